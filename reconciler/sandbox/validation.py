"""Request validation the way authentik's DRF serializers do it, driven by the API model: every
field error of a request at once, with DRF's messages (recordings 56-82 of both versions)."""
from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.model.kinds import Field, Kind
from reconciler.values import Json, JsonObject, ObjectId

from .profile import NestedWrite, Profile
from .quirks import format_datetime, refused_source
from .representation import STAGE_FAMILY, spaced
from .rules import Rules
from .store import Store

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_A_STRING = "Not a valid string."
NOT_A_BOOLEAN = "Must be a valid boolean."
NOT_AN_INTEGER = "A valid integer is required."
NOT_A_NUMBER = "A valid number is required."
NOT_A_CHOICE = '"{input}" is not a valid choice.'
NOT_A_LIST = 'Expected a list of items but got type "{input_type}".'
NOT_A_DICT = "Invalid data. Expected a dictionary, but got {datatype}."
NOT_A_UUID = "“{value}” is not a valid UUID."
NO_SUCH_PK = 'Invalid pk "{pk_value}" - object does not exist.'
NO_SUCH_SLUG = "Object with {slug_name}={value} does not exist."  # DRF's SlugRelatedField (source reading)
SLUG_IDS = ("uuid",)
"""Ids a reference takes through a slug field rather than the pk (a lifecycle rule's reviewers: 2026
directory 465)."""
NOT_A_PK = "Incorrect type. Expected pk value, received {data_type}."
TOO_LONG = "Ensure this field has no more than {limit} characters."
TOO_SHORT = "Ensure this field has at least {limit} characters."
TOO_BIG = "Ensure this value is less than or equal to {limit}."
TOO_SMALL = "Ensure this value is greater than or equal to {limit}."
NOT_A_SLUG = 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'
NO_MATCH = "This value does not match the required pattern."
NOT_AN_EMAIL = "Enter a valid email address."
NOT_A_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
TAKEN = "{owner} with this {field} already exists."

SLUG_PATTERN = "^[-a-zA-Z0-9_]+$"
# Django's URLValidator schemes, and LDAP's: an LDAP source's `server_uri`, which the spec marks
# a URI too, takes `ldap://` (directory 309).
URL_FORM = r"^(?:https?|ftps?|ldaps?)://[^\s/?#:]+(?::\d{{{digits},5}})?(?:[/?#]\S*)?$"
URL = re.compile(URL_FORM.format(digits=1), re.IGNORECASE)
NOT_A_URL = "Enter a valid URL."
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INTEGER = re.compile(r"^\s*[-+]?\d+(\.0*)?\s*$")
TRUE_VALUES = {"t", "y", "yes", "true", "on", "1"}
FALSE_VALUES = {"f", "n", "no", "false", "off", "0"}

Detail = list[Json] | JsonObject


class FieldError(Exception):
    """A field's error detail: a list of messages, or a dict keyed by list index."""

    def __init__(self, detail: Detail) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Validator:
    store: Store
    profile: Profile
    rules: Rules

    def validate(self, kind: Kind, body: Mapping[str, Json], *, partial: bool,
                 instance: ObjectId | None) -> tuple[JsonObject, JsonObject]:
        """Clean the kind's fields that `body` carries; unknown and read-only keys are ignored
        (67-70). Returns the cleaned values and the errors by field."""
        cleaned: JsonObject = {}
        errors: JsonObject = {}
        for name, field in kind.fields.items():
            if name in body:
                try:
                    wording = self.profile.field_messages.get(f"{kind.name}.{name}")
                    cleaned[name] = self.clean(self.as_checked(kind, field), body[name], wording)
                    self.check_object_rules(kind, field, cleaned[name], instance)
                    message = self.rules.field_error(kind, name, cleaned[name], body, instance)
                    if message:
                        raise FieldError([message])
                except FieldError as exc:
                    errors[name] = exc.detail
            elif not partial and name in kind.required:
                errors[name] = [REQUIRED]
            if name == "name":  # the spec lists nested writes right after the name
                errors.update(self.nested_errors(kind, body))
        return cleaned, errors

    def as_checked(self, kind: Kind, field: Field) -> Field:
        """The field as the server checks it: without a spec enum it does not enforce (a lifecycle
        rule takes any content type of the install: 2026 directory 470)."""
        if f"{kind.name}.{field.name}" in self.profile.unchecked_choices:
            return Field(field.name, {key: value for key, value in field.spec.items() if key != "enum"})
        return field

    # -- one value ------------------------------------------------------------------------------
    def clean(self, field: Field, value: Json, wording: Mapping[str, str] | None = None) -> Json:
        spec = field.spec
        if value is None:
            if field.nullable:
                return None
            raise FieldError([NULL])
        if "enum" in spec:
            return choice(spec["enum"], value)
        if field.reference:
            if field.is_list:
                return [self.reference(field, item) for item in as_list(value)]
            return self.reference(field, value)
        if field.is_list and field.items.get("type") == "object" and not isinstance(value, list):
            # a nested serializer's list reports under non_field_errors (apps 203)
            raise FieldError({"non_field_errors": [NOT_A_LIST.format(input_type=type(value).__name__)]})
        if field.is_list and "properties" in field.items:
            return self.clean_nested(field, as_list(value))
        if field.is_list:
            return self.clean_items(Field(field.name, field.items), value)
        return scalar(field, value, wording)

    def clean_nested(self, field: Field, items: list[Json]) -> list[Json]:
        """A nested serializer's list (`many=True`): each item an object whose fields are checked;
        the errors are a list of one object per item, `{}` for a valid one (apps 202). The items
        are kept as sent."""
        properties, required = field.items["properties"], field.items.get("required", [])
        errors: list[Json] = []
        for item in items:
            if not isinstance(item, dict):
                errors.append({"non_field_errors": [NOT_A_DICT.format(datatype=type(item).__name__)]})
                continue
            problems: JsonObject = {name: [REQUIRED] for name in required if name not in item}
            for name, spec in properties.items():
                try:
                    if name in item:
                        self.clean(Field(name, spec), item[name])
                except FieldError as exc:
                    problems[name] = exc.detail
            errors.append(problems)
        if any(errors):
            raise FieldError(errors)
        return items

    def clean_items(self, child: Field, value: Json) -> list[Json]:
        items, errors = [], {}
        for index, item in enumerate(as_list(value)):
            try:
                items.append(self.clean(child, item))
            except FieldError as exc:
                errors[str(index)] = exc.detail
        if errors:
            raise FieldError(errors)
        return items

    def reference(self, field: Field, value: Json) -> Json:
        """A primary-key reference as DRF's PrimaryKeyRelatedField checks it: UUIDs, or integers for
        users (flows 236). A foreign key to one stage subclass (`password_stage`) only finds
        stages of that kind; a binding's target may be named by either of its UUIDs (flows 233). A
        list or object for a UUID reaches Django's UUIDField, whose message shows it as Python
        prints it (2023 directory 49: `“['157d…']” is not a valid UUID.`)."""
        integer_pk = field.type == "integer" or (field.is_list and field.items.get("type") == "integer")
        if isinstance(value, bool) or (integer_pk and isinstance(value, dict | list)):
            raise FieldError([NOT_A_PK.format(data_type=type(value).__name__)])
        if integer_pk:
            if not INTEGER.match(str(value)):
                raise FieldError([NOT_A_PK.format(data_type=type(value).__name__)])
            ident: Json = int(float(value)) if isinstance(value, float) else int(str(value).strip())
        else:
            try:
                ident = str(uuid.UUID(int=value) if isinstance(value, int) else uuid.UUID(str(value)))
            except ValueError:
                raise FieldError([NOT_A_UUID.format(value=value)]) from None
        found = self.store.resolve(str(field.reference), ident, field.reference_kind)
        if found is None:
            slug = self.store.model.targets[str(field.reference)].id
            raise FieldError([NO_SUCH_SLUG.format(slug_name=slug, value=value) if slug in SLUG_IDS
                              else NO_SUCH_PK.format(pk_value=value)])
        return found

    def check_object_rules(self, kind: Kind, field: Field, value: Json, instance: ObjectId | None) -> None:
        """Validators that need the stored objects: the unique natural key and the source stage
        quirk."""
        unique = (kind.key == (field.name,) and field.name not in kind.key_fallback) or \
            field.name in kind.key_fallback.values()  # a blueprint instance's name, not its path (directory 451)
        if unique and not field.reference and kind.name not in self.profile.unique_with and \
                self.store.value_taken(kind, field.name, value, instance):
            raise FieldError([self.profile.unique_messages.get(kind.family) or
                              TAKEN.format(owner=unique_owner(kind), field=field.name)])
        if field.reference and not field.is_list and value is not None:
            message = refused_source(kind, field.name, self.store.listed_object(field.reference, value))
            if message:
                raise FieldError([message])

    # -- nested writes (2023.10.7 flow_set, recording 47) ---------------------------------------
    def nested_errors(self, kind: Kind, body: Mapping[str, Json]) -> JsonObject:
        errors: JsonObject = {}
        for name, nested in self.profile.nested_writes.items():
            if name in body and name in kind.read_only:
                detail = self.nested_detail(nested, body[name])
                if detail:
                    errors[name] = detail
        return errors

    def nested_detail(self, nested: NestedWrite, value: Json) -> Detail:
        if value is None:
            return [NULL]
        if not isinstance(value, list):
            return {"non_field_errors": [NOT_A_LIST.format(input_type=type(value).__name__)]}
        details = [self.nested_item(nested, item) for item in value]
        return details if any(details) else []

    def nested_item(self, nested: NestedWrite, item: Json) -> JsonObject:
        if not isinstance(item, Mapping):
            return {"non_field_errors": [NOT_A_DICT.format(datatype=type(item).__name__)]}
        errors: JsonObject = {}
        for key in nested.required:
            if key not in item:
                errors[key] = [REQUIRED]
                continue
            try:
                text = string({"minLength": 1}, item[key])
            except FieldError as exc:
                errors[key] = [NULL] if item[key] is None else exc.detail
                continue
            if key in nested.unique and text in self.existing(nested.target, key):
                errors[key] = [nested.unique[key]]
        return errors

    def existing(self, target: str, key: str) -> set[Json]:
        kinds = self.store.model.kinds_of(target)
        if kinds:
            return {self.store.values[kind.name][pk].get(key) for kind, pk in self.store.members(target)}
        return {obj.get(key) for obj in self.store.lists.get(self.store.model.targets[target].path, [])}


def unique_owner(kind: Kind) -> str:
    """The verbose name of the model holding the unique name column: `stage` for every stage
    kind (71, 72), the kind's own model otherwise (`prompt`, `invitation`)."""
    return spaced("Stage" if kind.family == STAGE_FAMILY else kind.model).lower()


def as_list(value: Json) -> list[Json]:
    if isinstance(value, list):
        return value
    raise FieldError([NOT_A_LIST.format(input_type=type(value).__name__)])


def choice(options: list[Json], value: Json) -> Json:
    by_text = {str(option): option for option in options}
    if isinstance(value, dict | list) or str(value) not in by_text:
        raise FieldError([NOT_A_CHOICE.format(input=value)])
    return by_text[str(value)]


def boolean(value: Json) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | str):
        text = str(int(value)) if isinstance(value, int | float) and value in (0, 1) else str(value).lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
    raise FieldError([NOT_A_BOOLEAN])


def integer(value: Json) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str) or not INTEGER.match(str(value)):
        raise FieldError([NOT_AN_INTEGER])
    return int(float(value)) if isinstance(value, float) else int(str(value).strip().split(".")[0])


def number(value: Json) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FieldError([NOT_A_NUMBER]) from None


def bounded(spec: Mapping[str, Json], value: int | float) -> int | float:
    messages = []
    if "maximum" in spec and value > spec["maximum"]:
        messages.append(TOO_BIG.format(limit=spec["maximum"]))
    if "minimum" in spec and value < spec["minimum"]:
        messages.append(TOO_SMALL.format(limit=spec["minimum"]))
    if messages:
        raise FieldError(messages)
    return value


def string(spec: Mapping[str, Json], value: Json, wording: Mapping[str, str] | None = None) -> str:
    """DRF CharField: blank check first, numbers become text, surrounding whitespace is trimmed;
    then every validator runs and all their messages are reported together. `wording` replaces a
    validator's message where a version words it differently (the 2026 flow slug, flows 10)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError([NOT_A_STRING])
    text = str(value).strip()
    if spec.get("format") == "date-time":
        return datetime_text(text)
    if text == "":
        if spec.get("minLength", 0) >= 1:
            raise FieldError([BLANK])
        return text
    messages = text_messages(spec, text, wording)
    if messages:
        raise FieldError(messages)
    return text


def text_messages(spec: Mapping[str, Json], text: str, wording: Mapping[str, str] | None) -> list[str]:
    """Every CharField validator's message for a text that is not blank, in DRF's order."""
    messages = []
    if "maxLength" in spec and len(text) > spec["maxLength"]:
        messages.append(TOO_LONG.format(limit=spec["maxLength"]))
    if spec.get("minLength", 0) > 1 and len(text) < spec["minLength"]:
        messages.append(TOO_SHORT.format(limit=spec["minLength"]))
    if "pattern" in spec and not re.search(spec["pattern"], text):
        default = NOT_A_SLUG if spec["pattern"] == SLUG_PATTERN else NO_MATCH
        messages.append((wording or {}).get("pattern", default))
    if spec.get("format") == "email" and not EMAIL.match(text):
        messages.append(NOT_AN_EMAIL)
    if spec.get("format") == "uri" and not urls_valid(text, wording or {}):
        messages.append(NOT_A_URL)  # Django's URLValidator (apps 225, 270, 293, 421)
    return messages


def urls_valid(text: str, wording: Mapping[str, str]) -> bool:
    """Django's URLValidator, or where `wording` says so authentik's validator of several URLs
    (`url_separator`: an LDAP source's server_uri, directory 328) and of ports of at least
    `url_port_digits` digits (2023's, 327)."""
    pattern = URL if "url_port_digits" not in wording else re.compile(
        URL_FORM.format(digits=int(wording["url_port_digits"])), re.IGNORECASE)
    separator = wording.get("url_separator")
    return all(pattern.match(part) for part in (text.split(separator) if separator else [text]))


def datetime_text(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError([NOT_A_DATETIME]) from None
    return format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def scalar(field: Field, value: Json, wording: Mapping[str, str] | None) -> Json:
    """A value that is no reference, choice or list, cleaned as its type's DRF field does."""
    spec = field.spec
    if field.type == "boolean":
        return boolean(value)
    if field.type == "integer":
        return bounded(spec, integer(value))
    if field.type == "number":
        return bounded(spec, number(value))
    if field.type == "string":
        return string(spec, value, wording)
    if wording and "object" in wording and not isinstance(value, dict):
        raise FieldError([wording["object"]])  # attributes (directory 41, 79)
    return value  # objects (JSONField): any JSON
