"""Checks recorded REST exchanges against the server's OpenAPI document.

    python check_openapi.py <openapi.json> <exchanges.json>

Each exchange is {"method", "path" (as the document names it), "status", "body"}. The document
must be OpenAPI 3.1; every exchange's operation and status must be in it, and every JSON body must
validate against the schema the document gives for it (JSON Schema 2020-12, with the `jsonschema`
package). Prints every mismatch and exits non-zero if there is one.
"""

import json
import sys

from jsonschema import Draft202012Validator


def main(document_path, exchanges_path):
    with open(document_path) as f:
        document = json.load(f)
    with open(exchanges_path) as f:
        exchanges = json.load(f)
    assert document["openapi"].startswith("3.1"), document["openapi"]
    components = document.get("components", {})
    Draft202012Validator.check_schema({"components": components})

    failures = []
    for exchange in exchanges:
        method, path, status, body = (exchange[k] for k in ("method", "path", "status", "body"))
        where = f"{method.upper()} {path} -> {status}"
        operation = document["paths"].get(path, {}).get(method)
        if operation is None:
            failures.append(f"{where}: the document has no such operation")
            continue
        response = operation["responses"].get(str(status))
        if response is None:
            failures.append(f"{where}: the document lists only {sorted(operation['responses'])}")
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            if body is not None:
                failures.append(f"{where}: a body the document does not describe: {body}")
            continue
        validator = Draft202012Validator(dict(schema, components=components))
        for error in validator.iter_errors(body):
            at = "/".join(str(p) for p in error.absolute_path) or "(root)"
            failures.append(f"{where}: at {at}: {error.message}")

    for failure in failures:
        print(failure)
    print(f"{len(exchanges)} exchanges checked, {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
