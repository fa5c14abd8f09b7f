"""Which project files each DVC stage runs, and whether the stage's ``deps:`` cover them.

``python -m stages.X`` runs ``stages/X.py`` and, transitively, every project module it imports:
at module level or inside a function (lazy imports run too), relative or absolute, plus the
``__init__.py`` of every package on the way. DVC reruns a stage only when one of its deps
changes, so each of those files must lie under one of the stage's deps (a folder covers all
below it; ``${...}`` entries are data and ignored here). A file holding nothing but a docstring
runs no code and needs no dep.

Used by ``tests/stages/test_stage_deps.py``; ``python tests/stages/stage_deps.py`` prints, per
stage, the files not covered and the deps to add (exit status 1 when any).
"""

from __future__ import annotations

import ast
import posixpath
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("voice2mesh", "stages", "studies")  # project code; the rest is third-party
DVC_FILES = ("dvc.yaml", "studies/coupling/dvc.yaml")  # every pipeline; commands run from ROOT


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``[a, a.b, a.b.c]``: importing a module first imports its packages."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _absolute(node: ast.ImportFrom, package: str, path: Path) -> str:
    """The absolute module named by ``from <node.module> import ...`` inside ``package``."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".") if package else []
    if node.level - 1 >= len(parts):
        raise ValueError(
            f"{path}:{node.lineno}: relative import goes above the top-level package "
            f"{package or '(none)'}; use an absolute import"
        )
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _literal_import_module(node: ast.AST) -> str | None:
    """The name in ``importlib.import_module("a.b")`` / ``import_module("a.b")``, else None."""
    if not (isinstance(node, ast.Call) and node.args and len(node.args) == 1):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    arg = node.args[0]
    if name == "import_module" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def imported_names(tree: ast.Module, path: Path, module: str) -> set[str]:
    """Absolute names of every module an import anywhere in a file may load.

    ``from a import b`` gives both ``a`` and ``a.b`` (``b`` may be a submodule or just a name;
    the caller keeps the names that resolve to files). ``from a import *`` gives ``a``.

    Args:
        tree: the parsed file.
        path: the file (for error messages; ``__init__.py`` marks a package).
        module: its dotted name (``pkg.mod``; a package's ``__init__.py`` is ``pkg``).
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package, path)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (name := _literal_import_module(node)) is not None and not name.startswith("."):
            names.add(name)
    return names


def runs_code(tree: ast.Module) -> bool:
    """False for a file that is empty or holds only a docstring (importing it does nothing)."""
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


class ImportGraph:
    """Project files reached from entry modules by following imports (each file parsed once).

    Args:
        root: the folder holding the top-level packages (the repository root).
        packages: top-level package names whose files count; other imports are not followed.
    """

    def __init__(self, root: Path, packages: Iterable[str] = PACKAGES) -> None:
        self.root = root
        self.packages = frozenset(packages)
        self._trees: dict[PurePosixPath, ast.Module] = {}
        self._modules: dict[str, tuple[PurePosixPath | None, set[str]]] = {}

    def tree(self, file: PurePosixPath) -> ast.Module:
        """The parsed source of ``file`` (relative to root)."""
        if file not in self._trees:
            path = self.root / file
            self._trees[file] = ast.parse(path.read_text(), filename=str(path))
        return self._trees[file]

    def runs_code(self, file: PurePosixPath) -> bool:
        """Whether importing ``file`` executes anything (see :func:`runs_code`)."""
        return runs_code(self.tree(file))

    def code_files(self, folder: PurePosixPath) -> list[PurePosixPath]:
        """Every ``.py`` file under ``folder`` that runs code."""
        files = (PurePosixPath(p.relative_to(self.root).as_posix()) for p in self._py(folder))
        return [f for f in files if self.runs_code(f)]

    def _py(self, folder: PurePosixPath) -> list[Path]:
        return [p for p in (self.root / folder).rglob("*.py") if "__pycache__" not in p.parts]

    def _module(self, module: str) -> tuple[PurePosixPath | None, set[str]]:
        """(file relative to root or None, names it imports) for one dotted module name."""
        if module not in self._modules:
            base = self.root.joinpath(*module.split("."))
            candidates = (base.parent / f"{base.name}.py", base / "__init__.py")
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:  # a name, not a module; or a namespace package (no file runs)
                self._modules[module] = (None, set())
            else:
                file = PurePosixPath(path.relative_to(self.root).as_posix())
                self._modules[module] = (file, imported_names(self.tree(file), path, module))
        return self._modules[module]

    def files_run_by(self, modules: Iterable[str]) -> set[PurePosixPath]:
        """Files (relative to root) executed by importing ``modules``, transitively."""
        seen: set[str] = set()
        files: set[PurePosixPath] = set()
        todo = list(modules)
        while todo:
            for module in _with_parents(todo.pop()):
                if module in seen or module.split(".")[0] not in self.packages:
                    continue
                seen.add(module)
                file, names = self._module(module)
                if file is not None:
                    files.add(file)
                todo.extend(names)
        return files


@dataclass(frozen=True)
class Stage:
    """One ``stages:`` entry of dvc.yaml (a ``foreach``/``do`` stage counts once)."""

    name: str
    modules: tuple[str, ...]  # what ``cmd`` runs: ``-m stages.x`` or ``stages/x.py``
    deps: tuple[str, ...]


def entry_modules(cmd: str) -> list[str]:
    """Modules a command runs with ``python -m <module>`` or ``python <path>.py``, and the
    ``stages.<name>`` module ``python -m voice2mesh.train.launch ... stages.<name>`` runs."""
    tokens = shlex.split(cmd)
    modules = [tokens[i + 1] for i, tok in enumerate(tokens[:-1]) if tok == "-m"]
    modules += [tok for tok in tokens if tok.startswith("stages.") and tok not in modules]
    scripts = [tok for tok in tokens if tok.endswith(".py")]
    return modules + [posixpath.normpath(s)[: -len(".py")].replace("/", ".") for s in scripts]


def read_stages(dvc_yaml: Path) -> list[Stage]:
    """The stages of a dvc.yaml (anchors resolved by the YAML loader)."""
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {})
    found = []
    for name, stage in stages.items():
        spec = stage.get("do", stage)
        cmds = spec.get("cmd", [])
        modules = [m for c in ([cmds] if isinstance(cmds, str) else cmds) for m in entry_modules(c)]
        unresolved = [m for m in modules if "${" in m]
        if unresolved:
            raise ValueError(
                f"{dvc_yaml}: stage {name!r} runs {unresolved[0]!r}; a module name built from "
                "${...} cannot be checked, so name the module literally in cmd"
            )
        deps = tuple(d for d in spec.get("deps") or [] if isinstance(d, str))
        found.append(Stage(name, tuple(modules), deps))
    return found


def is_covered(file: PurePosixPath, deps: Iterable[str]) -> bool:
    """Whether a dep is ``file`` itself or a folder above it (``${...}`` deps are skipped)."""
    for dep in deps:
        if "${" in dep:
            continue
        path = posixpath.normpath(dep)
        if str(file) == path or str(file).startswith(path + "/"):
            return True
    return False


def suggest(
    missing: Iterable[PurePosixPath], reached: set[PurePosixPath], graph: ImportGraph
) -> dict[str, list[PurePosixPath]]:
    """Deps to add so ``missing`` is covered, in dvc.yaml's style, each with the files it covers.

    A file in a subpackage (``voice2mesh/audio/x.py``) is covered by that whole first-level
    package when the stage reaches more than half of the package's code files; otherwise, and
    for top-level modules (``voice2mesh/io.py``), the file itself is the dep.
    """
    picks: dict[str, list[PurePosixPath]] = {}
    for file in sorted(missing):
        dep = str(file)
        if len(file.parts) > 2:
            package = PurePosixPath(*file.parts[:2])
            code = graph.code_files(package)
            if 2 * sum(f in reached for f in code) > len(code):
                dep = str(package)
        picks.setdefault(dep, []).append(file)
    return dict(sorted(picks.items()))


@dataclass(frozen=True)
class Finding:
    """A stage whose deps miss project files it runs.

    Attributes:
        stage: its name in dvc.yaml.
        add: deps to add -> the uncovered files each covers.
        drop: current deps that a folder in ``add`` makes redundant.
    """

    stage: str
    add: dict[str, list[PurePosixPath]]
    drop: tuple[str, ...] = ()


def _stages(root: Path) -> list[Stage]:
    return [s for name in DVC_FILES if (root / name).is_file() for s in read_stages(root / name)]


def check(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Finding]:
    """Every stage of the ``DVC_FILES`` whose deps do not cover the code its cmd runs."""
    graph = ImportGraph(root, packages)
    findings = []
    for stage in _stages(root):
        reached = {f for f in graph.files_run_by(stage.modules) if graph.runs_code(f)}
        missing = [f for f in reached if not is_covered(f, stage.deps)]
        if missing:
            add = suggest(missing, reached, graph)
            drop = [d for d in stage.deps if d not in add and is_covered(PurePosixPath(d), add)]
            findings.append(Finding(stage.name, add, tuple(drop)))
    return findings


def missing_code_deps(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[str]:
    """``stage: dep`` for each code dep (a path under ``packages``) that does not exist."""
    tops = set(packages)
    return [
        f"{stage.name}: {dep}"
        for stage in _stages(root)
        for dep in stage.deps
        if dep.split("/")[0] in tops and not (root / dep).exists()
    ]


def format_findings(findings: Iterable[Finding]) -> str:
    """Per stage, the deps to add (ready to paste under ``deps:``) and the files they cover."""
    lines = []
    for finding in findings:
        n_files = sum(map(len, finding.add.values()))
        lines.append(f"{finding.stage}: {n_files} files it runs are not under its deps; add")
        for dep, files in finding.add.items():
            names = [f.relative_to(dep).as_posix() for f in files if str(f) != dep]
            lines.append(f"      - {dep}" + (f"  # {', '.join(names)}" if names else ""))
        if finding.drop:
            lines.append(f"    and drop (now covered): {', '.join(finding.drop)}")
    return "\n".join(lines)


def main() -> int:
    """Print what each stage's deps miss; exit status 1 when any stage misses something."""
    findings = check()
    stale = missing_code_deps()
    if stale:
        print("deps that do not exist:\n  " + "\n  ".join(stale))
    if findings:
        print(format_findings(findings))
    else:
        print(f"every stage's deps in {', '.join(DVC_FILES)} cover the code it runs")
    return 1 if findings or stale else 0


if __name__ == "__main__":
    sys.exit(main())
