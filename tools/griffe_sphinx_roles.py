"""A griffe extension for the docs site: Sphinx roles in docstrings become links.

aiotrainer's docstrings use Sphinx fields (``:param x:``, which griffe's "sphinx"
style parses) and Sphinx roles (``:class:`~aiotrainer.Trainer```), which neither
griffe nor mkdocstrings translate. This rewrites each role into an autorefs link
when its target is rendered in the API reference (a name in ``aiotrainer.__all__``,
or a documented member of one), and into plain code otherwise, so that no role
shows up raw and no link can dangle. It also turns reST's ``::`` literal-block
marker into a plain colon (the indented block after it is Markdown code already).

Used by ``mkdocs.yml``; not part of the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|exc|data|mod|obj):`(?P<tilde>~?)"
    r"(?P<target>[\w.]+?)(?P<call>\(\))?`"
)


def _last(obj: griffe.Object | griffe.Alias, name: str) -> griffe.Object | None:
    """The member ``name`` declared in ``obj`` itself (not inherited), if any."""
    member = obj.members.get(name)
    if member is None or member.is_alias:
        return None
    assert isinstance(member, griffe.Object)
    return member


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite once the whole package is loaded (every target is known)."""
        exported = {str(n) for n in (pkg.exports or ())}
        self._pkg = pkg
        self._exported = exported
        for obj in self._walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = self._rewrite(obj, obj.docstring.value)

    def _walk(self, obj: griffe.Object) -> list[griffe.Object]:
        out = [obj]
        for member in obj.members.values():
            if not member.is_alias:
                assert isinstance(member, griffe.Object)
                out += self._walk(member)
        return out

    def _rendered(self, parts: list[str]) -> str | None:
        """The reference identifier for ``parts`` (after ``aiotrainer.``), if the
        reference renders it: an exported name, or a documented public member."""
        if not parts or parts[0] not in self._exported:
            return None
        obj: griffe.Object | griffe.Alias = self._pkg.members[parts[0]]
        target: griffe.Object | griffe.Alias = obj.final_target if obj.is_alias else obj  # type: ignore[union-attr]
        for name in parts[1:]:
            if name.startswith("_"):
                return None
            member = _last(target, name)
            if member is None or not member.has_docstring:
                return None
            target = member
        return "aiotrainer." + ".".join(parts)

    def _resolve(self, context: griffe.Object, target: str) -> str | None:
        parts = target.split(".")
        if parts[0] == "aiotrainer":
            parts = parts[1:]
        # a full path to a submodule's object: find the exported name in it
        for i, part in enumerate(parts):
            if part in self._exported:
                found = self._rendered(parts[i:])
                if found is not None:
                    return found
        if len(parts) == 1:  # a member of the class being documented
            cls = context if context.is_class else context.parent
            while cls is not None and not cls.is_class:
                cls = cls.parent
            if cls is not None and cls.name in self._exported:
                return self._rendered([cls.name, parts[0]])
        return None

    def _rewrite(self, context: griffe.Object, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            target = match["target"]
            shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
            if match["role"] in ("meth", "func") or match["call"]:
                shown += "()"
            identifier = self._resolve(context, target)
            if identifier is None:
                return f"`{shown}`"
            return f"[`{shown}`][{identifier}]"

        text = ROLE.sub(replace, text)
        lines = text.split("\n")
        for i, line in enumerate(lines[:-1]):
            if line.rstrip().endswith("::") and not lines[i + 1].strip():
                kept = line.rstrip()[:-2]
                lines[i] = kept + ":" if kept.strip() else ""
        return "\n".join(lines)
