"""Rules of direction for gui/ (ARCHITECTURE section 2): no torch anywhere, and the
engine reached only through `import engine` (its public API)."""
import ast
from pathlib import Path

GUI = Path(__file__).resolve().parent.parent / "gui"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_gui_never_imports_torch_and_uses_only_the_engine_api():
    sources = sorted(GUI.rglob("*.py"))
    assert sources
    for path in sources:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top != "torch", f"{path} imports {name}"
            assert top != "engine" or name == "engine", f"{path} imports {name}; use `import engine`"
