"""Rules of direction: the engine never needs Qt; `import engine` does not load torch."""
import subprocess
import sys

BLOCK_QT = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] in ('PySide6', 'gui'):\n"
    "            raise ImportError('blocked: ' + name)\n"
    "sys.meta_path.insert(0, Block())\n"
)


def _python(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_engine_imports_with_pyside6_blocked():
    code = BLOCK_QT + (
        "import engine, engine.cli, engine.batch, engine.pipeline, engine.tiling, engine.training.restore\n"
        "import engine.ops.restore, engine.ops.segment, engine.ops.repair, engine.ops.upscale\n"
        "print(any(m.startswith('PySide6') for m in sys.modules))")
    assert _python(code) == "False"


def test_import_engine_is_light():
    assert _python("import sys, engine; engine.list_models(); print('torch' in sys.modules)") == "False"
