import pkgutil
import subprocess
import sys

import storefront

PROBE = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
from storefront.app import create_app
create_app()
print(sorted(name for name in sys.modules if name.split(".")[0] == "duckdb"))
"""


def test_the_storefront_never_imports_duckdb(tmp_path):
    modules = ["storefront"] + [f"storefront.{m.name}" for m in pkgutil.iter_modules(storefront.__path__)]
    assert "storefront.webhooks" in modules and "storefront.__main__" in modules
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=modules)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"BACKINSTOCK_DATA_DIR": str(tmp_path / "data"), "PATH": ""},
    )
    assert result.stdout.strip() == "[]"
