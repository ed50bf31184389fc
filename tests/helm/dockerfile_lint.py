"""A small Dockerfile reader and linter for the project's image rules.

No Docker engine runs on the machines that test this project, so the Dockerfile cannot be
built here. What can be checked is checked statically (this module) and dynamically by
running the image's commands from the repo's venv in a copy of what the image COPYs
(test_image_runtime.py), which both use `parse` below.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, else None."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            match = re.search(r"\bCMD\s+(.*)$", text, re.S)
            if not match:
                return None
            text = match.group(1)
        text = text.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Dockerfile:
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def final_stage(self) -> list[Instruction]:
        """Instructions from the last FROM on (what the shipped image is made of)."""
        start = max((n for n, i in enumerate(self.instructions) if i.keyword == "FROM"), default=0)
        return self.instructions[start:]

    def env(self) -> dict[str, str]:
        """ENV of the final stage (KEY=VALUE pairs and the legacy `ENV KEY VALUE` form)."""
        values: dict[str, str] = {}
        for inst in self.final_stage():
            if inst.keyword != "ENV":
                continue
            parts = shlex.split(inst.args)
            if parts and "=" not in parts[0]:
                values[parts[0]] = " ".join(parts[1:])
                continue
            for part in parts:
                key, _, value = part.partition("=")
                values[key] = value
        return values

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of every COPY of the build context in the final stage."""
        result = []
        for inst in self.final_stage():
            if inst.keyword != "COPY":
                continue
            tokens = inst.args.split()
            flags = []
            while tokens and tokens[0].startswith("--"):
                flags.append(tokens.pop(0))
            if any(flag.startswith("--from") for flag in flags):
                continue  # from another stage or image, not from the build context
            rest = " ".join(tokens)
            parts = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            if len(parts) >= 2:
                result.append((parts[:-1], parts[-1]))
        return result

    def workdir(self) -> str:
        last = None
        for inst in self.final_stage():
            if inst.keyword == "WORKDIR":
                last = inst.args.strip()
        return last or "/"


def parse(text: str) -> Dockerfile:
    """Instructions with continuation lines joined and comments dropped."""
    result = Dockerfile()
    buffer = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        result.instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    if buffer:
        keyword, _, args = buffer.partition(" ")
        result.instructions.append(Instruction(keyword.upper(), args.strip(), start))
    return result


def image_reference(from_args: str) -> str:
    """The image of a FROM line, without flags and `AS name`."""
    parts = [p for p in from_args.split() if not p.startswith("--")]
    return parts[0] if parts else ""


def tag_of(image: str) -> str | None:
    """The tag of an image reference (None when untagged); the digest part is ignored."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def lint(text: str, *, required_copies: tuple[str, ...] = ()) -> list[str]:
    """Every rule the project's image must follow; returns the problems found (empty = OK)."""
    problems: list[str] = []
    dockerfile = parse(text)
    froms = dockerfile.all("FROM")
    stage_names = {
        parts[-1].lower() for parts in (f.args.split() for f in froms) if len(parts) >= 3 and parts[-2].upper() == "AS"
    }
    if not froms:
        problems.append("no FROM instruction")
    for inst in froms:
        image = image_reference(inst.args)
        if image.lower() in stage_names or image == "scratch":
            continue
        if "$" in image:
            problems.append(f"line {inst.line}: base image {image!r} uses a build arg; pin it literally")
            continue
        tag = tag_of(image)
        if "@sha256:" in image and tag is None:
            continue  # pinned by digest
        if tag is None:
            problems.append(f"line {inst.line}: base image {image!r} has no tag")
        elif tag == "latest":
            problems.append(f"line {inst.line}: base image {image!r} uses latest")
        elif not re.match(r"^\d+\.\d+\.\d+", tag):
            problems.append(f"line {inst.line}: base image {image!r} is not pinned to a patch version")
    if re.search(r"(?<![\w.-])latest(?![\w.-])", "\n".join(i.args for i in dockerfile.instructions)):
        problems.append("the word 'latest' appears in an instruction: pin versions")

    final = dockerfile.final_stage()
    cmd_index = max((n for n, i in enumerate(final) if i.keyword == "CMD"), default=None)
    if cmd_index is None:
        problems.append("no CMD")
    else:
        users = [i for i in final[:cmd_index] if i.keyword == "USER"]
        if not users:
            problems.append("no USER before CMD: the image would run as root")
        else:
            user = users[-1].args.split(":", 1)[0].strip()
            if user in ("root", "0", ""):
                problems.append(f"line {users[-1].line}: USER {users[-1].args} is root")
        if any(i.keyword == "USER" for i in final[cmd_index + 1 :]):
            problems.append("USER after CMD")
        if final[cmd_index].exec_form() is None:
            problems.append(f"line {final[cmd_index].line}: CMD should use the exec (JSON) form")

    healthchecks = dockerfile.all("HEALTHCHECK")
    if not healthchecks:
        problems.append("no HEALTHCHECK")
    elif healthchecks[-1].args.strip().upper() == "NONE":
        problems.append("HEALTHCHECK NONE disables the health check")

    runs = " ".join(i.args for i in dockerfile.all("RUN"))
    if not re.search(r"pip install --no-cache-dir -r requirements\.txt", runs):
        problems.append("dependencies are not installed with `pip install --no-cache-dir -r requirements.txt`")
    if re.search(r"pip install(?![^&;]*-r requirements)[^&;]*\s(?!-)[A-Za-z][\w.-]*(?:\s|$)", runs):
        problems.append("a RUN pip install names packages outside requirements.txt (unpinned)")

    copied = {src.rstrip("/") for sources, _ in dockerfile.copies() for src in sources}
    if "." in copied or "./" in copied:
        problems.append("COPY . copies the whole build context; copy what the image runs")
    for path in required_copies:
        if path.rstrip("/") not in copied:
            problems.append(f"{path} is not copied into the image")
    return problems


def unpinned_requirements(text: str) -> list[str]:
    """Requirement lines that do not pin an exact version with ==."""
    bad = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-r", "--")):
            continue
        if not re.match(r"^[A-Za-z0-9][\w.-]*(\[[\w,.-]+\])?==[\w.+!-]+(\s*;.*)?$", line):
            bad.append(line)
    return bad
