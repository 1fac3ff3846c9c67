"""The AsyncAPI document is valid for the reference parser (npm @asyncapi/parser), which is what
integrators' tooling (generators, Studio) runs on it; and the check fails on a broken document.

The parser is installed once with `npm ci` from contracts/asyncapi-parser (pinned in its
package-lock.json) into the cache directory (~/.cache/dhr or DHR_CACHE_DIR), keyed by the lock
file's hash. Node.js and npm are prerequisites of `make test`, as Java and Maven are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dhr_contracts import schemas

TOOL = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi-parser"


@pytest.fixture(scope="module")
def parser_dir() -> Path:
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is required to validate the AsyncAPI document")
    lock = (TOOL / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("DHR_CACHE_DIR", Path.home() / ".cache" / "dhr"))
    target = cache / f"asyncapi-parser-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (target / "node_modules" / "@asyncapi" / "parser").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TOOL / name, target / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=target,
                       check=True, timeout=600)
    shutil.copyfile(TOOL / "validate.mjs", target / "validate.mjs")  # resolves from there
    return target


def parse(parser_dir: Path, document: Path) -> tuple[int, list[dict[str, Any]]]:
    completed = subprocess.run(["node", str(parser_dir / "validate.mjs"), str(document)],
                               capture_output=True, text=True, timeout=120)
    diagnostics = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return completed.returncode, diagnostics


def test_the_committed_asyncapi_document_parses_without_errors(parser_dir: Path) -> None:
    status, diagnostics = parse(parser_dir, schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE)

    assert status == 0, diagnostics
    assert [d for d in diagnostics if d["severity"] <= 1] == []  # no error, no warning


def test_a_document_with_a_dangling_message_reference_is_refused(parser_dir: Path,
                                                                 tmp_path: Path) -> None:
    document = yaml.safe_load((schemas.SCHEMAS_DIR / schemas.ASYNCAPI_FILE).read_text())
    channel = document["channels"]["dhr.panel.events.v1"]
    channel["messages"]["Nothing"] = {"$ref": "#/components/messages/Nothing"}
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(document))

    status, diagnostics = parse(parser_dir, broken)

    assert status == 1
    assert any(d["severity"] == 0 and "Nothing" in json.dumps(d) for d in diagnostics), diagnostics
