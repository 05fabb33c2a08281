"""The serializers' checks beyond single fields, in DRF's order: field validators that need more
than the value (`validate_<field>`), then unique-together validators, then `validate()`. Which kind
has which rule, with which message, is profile data (`object_rules` in `recorded/<version>.json`);
this module only knows what each kind of rule does."""
from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import Json, ObjectId

from . import files
from .profile import ObjectRule, Profile
from .store import Store

ENTERPRISE_ERROR = "Enterprise is required to create/update this object."
"""2026.2.2 kinds/03, kinds/18 and flows/193, 195: kinds whose type says `requires_enterprise` pass
field validation and are then refused without a licence."""
UNIQUE_TOGETHER = "The fields {fields} must make a unique set."  # DRF's UniqueTogetherValidator (flows 77, 240)


class ServerFault(Exception):
    """The request makes the server's own code fail (a KeyError or AttributeError in validate()):
    answered with the 405 server-error quirk (flows 138, 142, 251)."""


@dataclass(frozen=True)
class Rules:
    store: Store
    profile: Profile
    enterprise: bool

    # -- validate_<field> -----------------------------------------------------------------------
    def field_error(self, kind: Kind, name: str, value: Any, body: Mapping[str, Json],
                    instance: ObjectId | None) -> str | None:
        """The error a field's own validator method gives a cleaned value, if any."""
        for rule in self.profile.rules_of(kind.name):
            error = self.rule_error(rule, kind, name, value, body, instance) if name in rule.fields else None
            if error:
                return error
        return None

    def rule_error(self, rule: ObjectRule, kind: Kind, name: str, value: Any, body: Mapping[str, Json],
                   instance: ObjectId | None) -> str | None:
        if rule.rule == "python_syntax":
            filename = rule.create_name if instance is None else str(self.store.values[kind.name][instance]["name"])
            error = syntax_error(str(value), filename)
            return rule.message.format(error=error) if error else None
        if rule.rule == "file_name":
            return files.file_name_error(str(value), self.profile.flow_background["messages"])
        if rule.rule == "single_true":  # one default brand (tenant): directory 207
            taken = any(other != instance and values.get(name) is True
                        for other, values in self.store.values[kind.name].items())
            return rule.message if value is True and taken else None
        if rule.rule in ("path_segments", "refused_value"):
            return value_error(rule, str(value))
        if rule.rule == "nonempty_when" and not value and \
                all(body.get(key) == wanted for key, wanted in rule.when.items()):
            return rule.message  # read from the request as sent (the validator reads initial_data)
        return None

    # -- unique-together validators -------------------------------------------------------------
    def together_errors(self, kind: Kind, attrs: Mapping[str, Json], instance: ObjectId | None) -> list[str]:
        """DRF's UniqueTogetherValidator: fields a partial update leaves out are taken from the
        instance (flows 97), and a set holding a null is never checked (group and user policy
        bindings, flows 269)."""
        errors = []
        stored = self.store.values[kind.name].get(instance or "", {})
        for rule in self.profile.rules_of(kind.name, "unique_together"):
            wanted = [attrs[f] if f in attrs else stored.get(f) for f in rule.fields]
            if None in wanted:
                continue
            taken = any(other != instance and [values.get(f) for f in rule.fields] == wanted
                        for other, values in self.store.values[kind.name].items())
            if taken:
                errors.append(UNIQUE_TOGETHER.format(fields=", ".join(rule.fields)))
        return errors

    # -- validate() -----------------------------------------------------------------------------
    def validate(self, kind: Kind, attrs: Mapping[str, Json], instance: ObjectId | None = None) -> str | None:
        """The first error the serializer's validate() raises; `attrs` holds only what the request
        sent, so these checks never see the stored values (08, 17; flows 101, 184, 262), except
        the refusal to touch an internal service account (directory 106)."""
        stored = self.store.values[kind.name].get(instance) if instance is not None else None
        for rule in self.profile.rules_of(kind.name, "stored_refuses"):
            if stored is not None and stored.get(rule.fields[0]) == rule.when["value"]:
                return rule.message
        kind_type = self.profile.stage_type(kind.model)
        if not self.enterprise and kind_type and kind_type.get("requires_enterprise"):
            return ENTERPRISE_ERROR
        for rule in self.profile.rules_of(kind.name):
            error = self.apply(rule, attrs)
            if error:
                return error
        return None

    @staticmethod
    def apply(rule: ObjectRule, attrs: Mapping[str, Json]) -> str | None:
        if rule.rule == "needs" or rule.needs:
            needed = rule.fields if rule.rule == "needs" else rule.needs
            if any(name not in attrs for name in needed):
                raise ServerFault(rule.kind)
        if rule.rule == "one_truthy":
            if not any(attrs.get(name, rule.missing.get(name)) for name in rule.fields):
                return rule.message
        elif rule.rule == "exactly_one":
            count = sum(1 for name in rule.fields if attrs.get(name))
            if count > 1:
                return rule.many_message
            if count < 1:
                return rule.message
        return None


def value_error(rule: ObjectRule, value: str) -> str | None:
    """A user path without leading, trailing or doubled slashes (directory 74, 75); a value a
    create or update may not set (78)."""
    if rule.rule == "refused_value":
        return rule.message if value == rule.when["value"] else None
    if value.startswith("/") or value.endswith("/"):
        return rule.message
    return rule.many_message if "//" in value else None


def syntax_error(expression: str, filename: str) -> str | None:
    """Compile the expression the way authentik's evaluator wraps it, in a function body, so line
    numbers are one more than the user's (flows 208: `(temp-policy, line 2)`)."""
    wrapped = "def handler():\n" + textwrap.indent(expression, "    ") + "\nresult = handler()"
    try:
        compile(wrapped, filename, "exec")
    except (SyntaxError, ValueError) as exc:
        return str(exc)
    return None
