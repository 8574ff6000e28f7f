"""Preview: an author's drafts applied to the requests of the browsers where they turned preview on, and nowhere else.

A draft (``SettingDraft``) is a change saved but not published. Turning preview on sets the cookie ``COOKIE``: a
signed value naming the author. The cookie alone shows nothing: ``layer()`` also needs the author's own logged-in
session in the same browser, so a copied cookie is worthless, and a forged, expired or stale one (the author logged
out, changed password, or is no longer staff) is ignored.

``RequestSettingsMiddleware`` sits above ``SessionMiddleware``, so ``request.session`` and ``request.user`` do not
exist yet when it builds the layer: ``layer()`` reads the session itself and resolves the user as
``django.contrib.auth.get_user`` does, without its side effects (it never flushes or cycles a session). It runs only
when the cookie is present: a request without it pays a dict lookup, no session or database access.

The drafts go into a private copy of the snapshot (``Snapshot.changed`` never mutates the shared one), so they never
reach another request, the snapshot other requests use, exports, or the effective settings (unless the author asks
for "with my drafts"). ``publish()`` applies them through ``objects.set``/``unset`` in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import constant_time_compare

from request_settings import overlay
from request_settings.conf.settings import settings as conf
from request_settings.hosts import clean_host
from request_settings.models import SettingDraft, get_override_model, in_brackets, validate_override
from request_settings.snapshot import DELETED, Judge, Snapshot
from request_settings.store import layer_for_host

if TYPE_CHECKING:
    from django.db.models import QuerySet

COOKIE = "request_settings_preview"
"""The name of the preview cookie (fixed by the issue)."""
SALT = "request_settings.preview"
"""The signing salt: a value signed for anything else of the project's never passes as a preview cookie."""
SCHEDULED = "a scheduled value is in effect for it: publishing changes the value under it, served once it ends."
"""Why a draft is not previewed while a window of its key and host is in effect (publishing would not show it)."""
BANNER_VALUE_CHARS = 80
"""Characters of a draft's value shown in the banner."""


@dataclass
class Preview:
    """What a previewing request carries (``request.request_settings_preview``): the drafts applied, those skipped."""

    author: Any
    applied: list[SettingDraft] = field(default_factory=list)
    skipped: list[tuple[SettingDraft, str]] = field(default_factory=list)
    """Drafts the policy refuses now (it changed since they were saved): (draft, reason in words)."""
    banner: str = ""


# -- the cookie --------------------------------------------------------------------------------------------------------


def cookie_value(user: Any) -> str:
    """The signed cookie value naming ``user`` (timestamped: it expires with the session's lifetime)."""
    return signing.dumps(str(user.pk), salt=SALT)


def cookie_author(value: str) -> str | None:
    """The author's primary key (as text) named by a cookie value; None for a forged, expired or malformed one."""
    try:
        author = signing.loads(value, salt=SALT, max_age=settings.SESSION_COOKIE_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return author if isinstance(author, str) else None


def turn_on(request: HttpRequest, response: HttpResponseBase, user: Any) -> None:
    """Set the cookie for ``user``: HttpOnly, SameSite=Lax, Secure when the request is, scoped like the session."""
    response.set_cookie(
        COOKIE,
        cookie_value(user),
        domain=settings.SESSION_COOKIE_DOMAIN,
        path=settings.SESSION_COOKIE_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def turn_off(response: HttpResponseBase) -> None:
    response.delete_cookie(
        COOKIE, domain=settings.SESSION_COOKIE_DOMAIN, path=settings.SESSION_COOKIE_PATH, samesite="Lax"
    )


def is_on(request: HttpRequest, user: Any) -> bool:
    """Whether this browser previews ``user``'s drafts (a valid cookie naming them)."""
    value = request.COOKIES.get(COOKIE)
    return value is not None and user.is_authenticated and cookie_author(value) == str(user.pk)


# -- the request path --------------------------------------------------------------------------------------------------


def layer(request: HttpRequest, snapshot: Snapshot, host: str, layer: overlay.Layer) -> overlay.Layer:
    """The layer of ``host`` with the cookie's author's drafts applied, when the cookie and session agree.

    Otherwise ``layer`` unchanged. Blocking (session and drafts are read from the database): the async middleware
    runs it through ``sync_to_async``.
    """
    author_pk = cookie_author(request.COOKIES.get(COOKIE, ""))
    if author_pk is None:
        return layer
    # Inside the host's layer: the session settings (cookie name, age) are those SessionMiddleware will use.
    token = overlay.push(layer, host)
    try:
        author = _session_user(request)
    finally:
        overlay.pop(token)
    if author is None or str(author.pk) != author_pk or not (author.is_active and author.is_staff):
        return layer
    from request_settings.forms import rights_error

    state = Preview(author)
    changes: dict[tuple[str, str], Any] = {}
    judge = Judge()
    for draft in drafts_of(author):
        denied = rights_error(author, draft.key, draft.host, removing=draft.remove)  # as publish() would ask
        if denied is not None:
            state.skipped.append((draft, " ".join(denied.messages)))
            continue
        if (draft.key, draft.host) in snapshot.scheduled:  # the window wins over the row publishing would write
            state.skipped.append((draft, SCHEDULED))
            continue
        if draft.remove:
            changes[draft.key, draft.host] = DELETED
            state.applied.append(draft)
            continue
        value = judge(draft.key, draft.host, draft.value)  # what a row would serve; also makes the key overridable
        if value is DELETED:
            from request_settings.effective import row_problem

            state.skipped.append((draft, row_problem(draft.key, draft.value, draft.host) or "not applied"))
            continue
        changes[draft.key, draft.host] = value
        state.applied.append(draft)
    if conf.PREVIEW_BANNER:
        state.banner = _render_banner(state)
    request.request_settings_preview = state  # type: ignore[attr-defined]
    if not changes:
        return layer
    previewed = snapshot.changed(changes, snapshot.version, loaded_at=snapshot.loaded_at)
    return layer_for_host(host, previewed)


def with_banner(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Insert the banner before ``</body>`` of an HTML response, when the request previews drafts."""
    state: Preview | None = getattr(request, "request_settings_preview", None)
    if state is None or not state.banner or not isinstance(response, HttpResponse):
        return response
    if not response.get("Content-Type", "").startswith("text/html") or response.has_header("Content-Encoding"):
        return response
    content = response.content
    end = content.lower().rfind(b"</body>")
    if end < 0:
        return response
    response.content = content[:end] + state.banner.encode(response.charset) + content[end:]
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
    return response


def _session_user(request: HttpRequest) -> Any:
    """The user of the request's session, as ``django.contrib.auth.get_user`` finds it, without writing anything.

    The session auth hash is verified (current secret, then the fallbacks), so a session a password change has
    ended gives None. Unlike ``get_user``, nothing is flushed or cycled here: ``SessionMiddleware`` and
    ``AuthenticationMiddleware`` do that later in the same request, as usual.
    """
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None:
        return None
    if hasattr(user, "get_session_auth_hash"):
        session_hash = session.get(HASH_SESSION_KEY)
        if not session_hash:
            return None
        hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
        if not any(constant_time_compare(session_hash, known) for known in hashes):
            return None
    return user


def _render_banner(state: Preview) -> str:
    from request_settings.forms import display_value, host_label

    def line(draft: SettingDraft) -> dict[str, str]:
        value = "(removed)" if draft.remove else display_value(draft.key, draft.value, limit=BANNER_VALUE_CHARS)
        return {"key": draft.key, "host": host_label(draft.host), "value": value}

    return render_to_string(
        "request_settings/preview_banner.html",
        {
            "applied": [line(draft) for draft in state.applied],
            "skipped": [{**line(draft), "reason": reason} for draft, reason in state.skipped],
            "urls": admin_urls(),
        },
    )


_ADMIN_PAGES = ("changelist", "publish", "discard", "preview")


def admin_urls() -> dict[str, str]:
    """The admin's draft pages (drafts, publish, discard, preview on/off); empty when the admin is not mounted."""
    info = SettingDraft._meta.app_label, SettingDraft._meta.model_name
    try:
        return {name: reverse("admin:{}_{}_{}".format(*info, name)) for name in _ADMIN_PAGES}
    except NoReverseMatch:
        return {}


# -- drafts ------------------------------------------------------------------------------------------------------------


def drafts_of(user: Any) -> QuerySet[SettingDraft]:
    drafts: QuerySet[SettingDraft] = SettingDraft.objects.filter(author=user).order_by("host", "key")
    return drafts


def save_draft(user: Any, key: str, value: Any = None, host: str = "", *, remove: bool = False) -> SettingDraft:
    """Create or update ``user``'s draft of ``(key, host)``; ValidationError (nothing written) as ``objects.set``.

    ``remove`` drafts the removal of the override. The caller checks rights, as it does before ``objects.set``.
    """
    if user is None or not user.is_authenticated:
        raise ValidationError("A draft needs an author: a signed-in user.", code="no_author")
    if not user.is_staff:  # every path asks here: the admin, the site form, the API, the command's --user
        raise ValidationError("Only staff can save drafts: previewing them needs a staff account.", code="not_staff")
    try:
        host = clean_host(host)
    except ValueError as error:
        raise ValidationError({"host": str(error)}, code="invalid_host") from None
    if remove:
        from request_settings import policy

        reason = policy.refusal(key)
        if reason is not None:
            raise ValidationError({"key": f"{key} cannot be overridden: {reason}."}, code="refused")
        value = None
    else:
        validate_override(key, value, host)
    draft: SettingDraft
    draft, _created = SettingDraft.objects.update_or_create(
        author=user, key=key, host=host, defaults={"value": value, "remove": remove}
    )
    return draft


def discard(user: Any, drafts: Iterable[int] | None = None) -> int:
    """Delete ``user``'s drafts (those of the ids ``drafts`` only, if given); how many were deleted."""
    rows = drafts_of(user)
    if drafts is not None:
        rows = rows.filter(pk__in=list(drafts))
    deleted, _by_model = rows.delete()
    return deleted


def publish(user: Any) -> list[SettingDraft]:
    """Apply ``user``'s drafts through ``objects.set``/``unset`` in one transaction, then delete them.

    All or nothing: if the author may not write one of them (the rights saving asks, ``forms.rights_error``) or one
    is invalid now, nothing is published and ValidationError lists every problem, each naming the key and host.
    Each change is audited and announced (after commit) like any other.
    """
    from request_settings.forms import rights_error

    manager = get_override_model()._default_manager
    using = router.db_for_write(manager.model)
    with transaction.atomic(using=using), transaction.atomic(using=router.db_for_write(SettingDraft)):
        drafts = list(drafts_of(user).select_for_update())
        problems: list[str] = []
        for draft in drafts:
            problem = rights_error(user, draft.key, draft.host, removing=draft.remove)
            if problem is None and not draft.remove:
                try:
                    validate_override(draft.key, draft.value, draft.host)
                except ValidationError as error:
                    problem = error
            if problem is not None:
                problems.append(f"{draft.key} {in_brackets(draft.host)}: {' '.join(problem.messages)}")
        if problems:
            raise ValidationError(
                "Nothing was published: %(problems)s", code="not_published", params={"problems": " ".join(problems)}
            )
        for draft in drafts:
            if draft.remove:
                manager.unset(draft.key, host=draft.host, user=user)
            else:
                manager.set(draft.key, draft.value, host=draft.host, user=user)
        SettingDraft.objects.filter(pk__in=[draft.pk for draft in drafts]).delete()
    return drafts


def draft_changes(user: Any) -> Mapping[tuple[str, str], Any]:
    """``(key, host) -> value`` (``DELETED`` for a removal) of ``user``'s drafts, for "with my drafts"."""
    return {(d.key, d.host): DELETED if d.remove else d.value for d in drafts_of(user)}
