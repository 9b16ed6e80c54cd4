"""Compare the numbers of two JSON files written by the two codes: how many differ, by how much at most, and
every difference at the majority baseline. Usage: python compare_json.py OLD.json NEW.json"""

import json
import sys


def flat(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flat(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from flat(item, f"{path}[{index}]")
    else:
        yield path, value


old, new = (dict(flat(json.load(open(path, encoding="utf-8")))) for path in sys.argv[1:3])
assert old.keys() == new.keys(), "the two files hold different keys"
changed = {key: (old[key], new[key]) for key in old if old[key] != new[key]}
numeric = {key: abs(a - b) for key, (a, b) in changed.items() if isinstance(a, float) and isinstance(b, float)}
print(f"{sys.argv[2]}: {len(old)} values, {len(changed)} differ ({len(changed) - len(numeric)} not numbers); "
      f"largest difference {max(numeric.values(), default=0.0):.3g}")
for key, (a, b) in changed.items():
    if "majority" in key:
        print(f"  {key}: {a!r} -> {b!r}")
