"""Content blocks: what a mail holds besides its written message. Marketing switches and
orders them per trigger and broadcast (TriggerConfig.blocks / Broadcast.blocks, validated
against BLOCKS); a block with nothing to show for the member renders nothing.

Each block is a function (MailContext) -> Block | None, called in the mail's language.
Nothing staff or members wrote reaches HTML unescaped: block templates autoescape, and
the message's own links are the only ones wrapped for click tracking."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import qrcode
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.html import escape, linebreaks
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.kernel.maillayout import Block, InlineImage
from loyalty.kernel.translated import localized

from . import slots

# name -> what marketing reads in the console
BLOCKS: dict[str, object] = {
    "message": gettext_lazy("The written message"),
    "balance": gettext_lazy("Balance, tier and progress"),
    "vouchers": gettext_lazy("The member's vouchers with code and QR"),
    "tier_benefits": gettext_lazy("The tier's benefits"),
    "birthday_surprise": gettext_lazy("What the birthday surprise is"),
    "winback_offer": gettext_lazy("The personal offer (win-back)"),
    "popular_products": gettext_lazy("Popular products of the favourite category"),
    "questionnaire": gettext_lazy("Call to answer the questionnaire"),
}

# The blocks a trigger shows when marketing has not chosen (None on the config).
DEFAULT_BLOCKS: dict[str, list[str]] = {
    "welcome": ["message", "balance", "vouchers"],
    "anniversary": ["message", "balance", "vouchers"],
    "thank_you": ["message", "questionnaire", "popular_products", "balance"],
    "service_guarantee": ["message"],
    "cart_abandoned": ["message", "popular_products"],
    "win_back": ["winback_offer", "message", "popular_products", "vouchers"],
    "birthday_soon": ["birthday_surprise", "message"],
    "birthday": ["birthday_surprise", "message", "vouchers"],
    "wedding": ["message", "popular_products", "vouchers"],
    "tier_upgraded": ["message", "tier_benefits", "balance"],
    "tier_at_risk": ["message", "balance", "tier_benefits"],
    "carats_expiring": ["message", "balance", "vouchers"],
    "club_renewal": ["message", "balance"],
    "broadcast": ["message"],
}

MAX_VOUCHERS = 3
MAX_PRODUCTS = 3


@dataclass
class MailContext:
    member: object
    language: str
    trigger: str
    pieces: list[tuple[str, bool]]
    values: dict[str, str]
    cfg: object | None = None
    log: object | None = None
    wrap_link: Callable[[str], str] | None = None
    cache: dict = field(default_factory=dict)


def blocks_for(source, trigger: str) -> list[str]:
    chosen = getattr(source, "blocks", None)
    if chosen:
        return [b for b in chosen if b in BLOCKS]
    return list(DEFAULT_BLOCKS.get(trigger, ["message"]))


def render_blocks(names: list[str], ctx: MailContext) -> list[Block]:
    out = []
    for name in names:
        block = _RENDER[name](ctx) if name in _RENDER else None
        if block is not None:
            out.append(block)
    return out


def _block(name: str, ctx: dict, text: str, images=()) -> Block:
    html = render_to_string(f"mail/blocks/{name}.html", ctx)
    return Block(name=name, html=mark_safe(html), text=text, images=tuple(images))  # noqa: S308 (autoescaped template)


def _message(ctx: MailContext) -> Block | None:
    text = "".join(piece for piece, _staff in ctx.pieces).strip()
    if not text:
        return None
    wrap = ctx.wrap_link or escape
    html = linebreaks(
        "".join(wrap(piece) if staff else escape(piece) for piece, staff in ctx.pieces).strip()
    )
    return Block(name="message", html=mark_safe(html), text=text)  # noqa: S308 (escaped above)


def _progress(ctx: MailContext):
    if "progress" not in ctx.cache:
        from tiers.selectors import member_progress

        ctx.cache["progress"] = member_progress(ctx.member) if ctx.member.pk else None
    return ctx.cache["progress"]


def _balance(ctx: MailContext) -> Block | None:
    progress = _progress(ctx)
    if progress is None:
        return None
    tier = localized(progress.tier, "name")
    nxt = localized(progress.next_tier, "name") if progress.next_tier else ""
    data = {
        "balance": ctx.member.balance,
        "tier": tier,
        "next_tier": nxt,
        "to_go": progress.carats_to_next,
        "percent": max(0, min(100, progress.percent)),
        "account_url": ctx.values.get("account_url", ""),
    }
    text = _("Your balance: %(n)s carats · your tier: %(tier)s") % {
        "n": data["balance"],
        "tier": tier,
    }
    if nxt and data["to_go"] is not None:
        text += "\n" + _("%(n)s carats to %(tier)s") % {"n": data["to_go"], "tier": nxt}
    return _block("balance", data, text)


def qr_png(payload: str) -> bytes:
    """A QR code as PNG (what mail clients show; SVG they do not)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=3)
    qr.add_data(payload)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(out, format="PNG")
    return out.getvalue()


_CID_SAFE = re.compile(r"[^A-Za-z0-9]")


def _vouchers(ctx: MailContext) -> Block | None:
    from campaigns.selectors import vouchers_for_member

    if not ctx.member.pk:
        return None
    vouchers = list(
        vouchers_for_member(ctx.member, status="issued")
        .filter(valid_until__gt=timezone.now())
        .select_related("reward")[:MAX_VOUCHERS]
    )
    if not vouchers:
        return None
    items, images, lines = [], [], [_("Your vouchers (show the code or the QR at the till):")]
    for v in vouchers:
        cid = f"voucher-{_CID_SAFE.sub('', v.code)}@carat"
        images.append(InlineImage(cid=cid, content=qr_png(v.code)))
        title = localized(v.reward, "name") if v.reward_id else v.title
        items.append({"title": title, "code": v.code, "cid": cid, "valid_until": v.valid_until})
        lines.append(f"- {title}: {v.code}")
    return _block("vouchers", {"vouchers": items}, "\n".join(lines), images)


def _tier_benefits(ctx: MailContext) -> Block | None:
    progress = _progress(ctx)
    if progress is None:
        return None
    benefits = [b.strip() for b in localized(progress.tier, "benefits").splitlines() if b.strip()]
    if not benefits:
        return None
    tier = localized(progress.tier, "name")
    title = _("What %(tier)s brings you") % {"tier": tier}
    text = title + "\n" + "\n".join(f"- {b}" for b in benefits)
    return _block("tier_benefits", {"title": title, "benefits": benefits}, text)


def birthday_surprise(member, trigger: str) -> tuple[int, str, str]:
    """(carats, reward name, voucher code) of the member's birthday surprise: this year's
    gift once given (birthday), else what the program gives (the week before)."""
    from campaigns.services.earning import program

    gift = None
    if trigger == "birthday" and member.pk:
        gift = member.birthday_gifts.select_related("voucher").order_by("-year").first()
    if gift is not None:
        voucher = gift.voucher
        return gift.carats, voucher.title if voucher else "", voucher.code if voucher else ""
    p = program()
    reward = localized(p.birthday_reward, "name") if p.birthday_reward_id else ""
    return p.birthday_carats, reward, ""


def surprise_words(carats: int, reward: str, code: str = "") -> str:
    parts = [_("%(n)s carats") % {"n": carats}] if carats else []
    if reward:
        parts.append(reward + (f" ({code})" if code else ""))
    return " + ".join(parts)


def _birthday_surprise(ctx: MailContext) -> Block | None:
    what = surprise_words(*birthday_surprise(ctx.member, ctx.trigger))
    if not what:
        return None
    if ctx.trigger == "birthday":
        title = _("Your birthday surprise")
    else:
        title = _("On your birthday, a surprise awaits you")
    note = _("On your card, ready to use in our stores and online.")
    return _block(
        "birthday_surprise", {"title": title, "what": what, "note": note}, f"{title}: {what}"
    )


def _winback_offer(ctx: MailContext) -> Block | None:
    cfg = ctx.cfg
    if cfg is None or not cfg.has_gift:
        return None
    code = ((ctx.log.context or {}) if ctx.log is not None else {}).get("voucher", "")
    reward = localized(cfg.gift_reward, "name") if cfg.gift_reward_id else ""
    what = surprise_words(cfg.gift_carats, reward, code)
    title = _("Your personal offer")
    note = _("Only for you, in our stores and online.")
    return _block(
        "winback_offer", {"title": title, "what": what, "note": note}, f"{title}: {what}\n{note}"
    )


def _price(value) -> str:
    """A price as the mail's language writes it (640,00 in nl and fr; 640.00 in en)."""
    if value in (None, ""):
        return ""
    try:
        return formats.number_format(Decimal(str(value)), 2, use_l10n=True, force_grouping=True)
    except (InvalidOperation, ValueError):
        return ""


def _http(url) -> str:
    url = str(url or "")
    return url if url.startswith(("https://", "http://")) else ""


def _popular_products(ctx: MailContext) -> Block | None:
    provider = slots.slot_provider("popular_products")
    data = provider(ctx.member, ctx.language) if provider and ctx.member.pk else None
    products = []
    for p in (data or {}).get("products") or []:
        if not isinstance(p, dict) or not p.get("name"):
            continue
        products.append(
            {
                "name": str(p["name"]),
                "price": _price(p.get("price")),
                "currency": str(p.get("currency") or "EUR"),
                "image_url": _http(p.get("image_url")),
                "url": _http(p.get("url")),
            }
        )
    if not products:
        return None
    products = products[:MAX_PRODUCTS]
    title = str(data.get("title") or _("Loved by our members"))
    text = title + "\n" + "\n".join(f"- {p['name']} {p['url']}".rstrip() for p in products)
    return _block("popular_products", {"title": title, "products": products}, text)


def _questionnaire(ctx: MailContext) -> Block | None:
    provider = slots.slot_provider("questionnaire")
    data = provider(ctx.member, ctx.language, ctx.log) if provider and ctx.member.pk else None
    if not data or not _http(data.get("url")):
        return None
    item = {
        "title": str(data.get("title") or _("Tell us about your purchase")),
        "text": str(data.get("text") or ""),
        "url": _http(data["url"]),
        "button": str(data.get("button") or _("Answer the questions")),
        "discount": str(data.get("discount") or ""),
    }
    text = f"{item['title']}\n{item['text']}\n{item['button']}: {item['url']}"
    return _block("questionnaire", item, text)


_RENDER: dict[str, Callable[[MailContext], Block | None]] = {
    "message": _message,
    "balance": _balance,
    "vouchers": _vouchers,
    "tier_benefits": _tier_benefits,
    "birthday_surprise": _birthday_surprise,
    "winback_offer": _winback_offer,
    "popular_products": _popular_products,
    "questionnaire": _questionnaire,
}
