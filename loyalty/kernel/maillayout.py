"""The one HTML layout of every member mail (trigger and broadcast mails, account mails,
appointment and outreach mails): the brand's logo, colours and fonts, a header that
names the reason (and the gift), the content blocks, and a footer with the legal
address, the unsubscribe link and why the member gets this mail. The plain-text part is
made from the same blocks.

The layout is written as ordinary HTML with one style sheet (templates/mail/layout.html)
and the CSS is inlined into style attributes when the mail is made (css-inline): mail
clients that drop <style> (several webmail apps) still see the brand, while the media
queries for narrow screens and dark mode stay in the <style> for the clients that read
them. The kernel knows no app: callers pass the Brand and the blocks."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import css_inline
from django.template.loader import render_to_string
from django.utils.html import linebreaks, urlize
from django.utils.safestring import SafeString, mark_safe

_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Brand:
    """What a mail shows of the brand (from the program's settings)."""

    name: str
    logo_url: str = ""
    ink: str = "#1d1d1f"
    accent: str = "#b08d57"
    background: str = "#faf8f4"
    serif: bool = True
    legal_address: str = ""
    from_email: str = ""
    reply_to: str = ""


@dataclass(frozen=True)
class InlineImage:
    """An image carried in the mail itself (multipart/related, Content-ID)."""

    cid: str
    content: bytes
    subtype: str = "png"

    def data_uri(self) -> str:
        return f"data:image/{self.subtype};base64," + base64.b64encode(self.content).decode()


@dataclass(frozen=True)
class Block:
    """One content block: its HTML (already escaped), its plain text, and its images."""

    name: str
    html: SafeString
    text: str
    images: tuple[InlineImage, ...] = ()


@dataclass(frozen=True)
class Footer:
    reason: str
    unsubscribe_url: str = ""
    unsubscribe_label: str = ""
    account_url: str = ""
    account_label: str = ""
    pixel_url: str = ""


@dataclass
class RenderedMail:
    subject: str
    text: str
    html: str
    images: list[InlineImage] = field(default_factory=list)

    def html_for_browser(self) -> str:
        """The HTML with its inline images as data: URIs (the console's preview and
        screenshots): otherwise exactly the HTML that is sent."""
        html = self.html
        for image in self.images:
            html = html.replace(f"cid:{image.cid}", image.data_uri())
        return html


def text_block(text: str, name: str = "message") -> Block:
    """A block from plain text the program wrote (account and appointment mails): escaped,
    its addresses made links, its blank lines paragraphs."""
    html = linebreaks(urlize(text.strip(), autoescape=True))
    return Block(name=name, html=mark_safe(html), text=text.strip())  # noqa: S308 (escaped)


def render_mail(
    *,
    brand: Brand,
    language: str,
    subject: str,
    heading: str,
    subheading: str = "",
    blocks: list[Block],
    footer: Footer,
) -> RenderedMail:
    """The mail in the layout: HTML (CSS inlined) and the plain text of the same blocks."""
    ctx = {
        "brand": brand,
        "language": language,
        "subject": subject,
        "heading": heading,
        "subheading": subheading,
        "blocks": blocks,
        "footer": footer,
    }
    html = _INLINER.inline(render_to_string("mail/layout.html", ctx))
    text = _plain_text(brand, heading, subheading, blocks, footer)
    images = [image for block in blocks for image in block.images]
    return RenderedMail(subject=subject, text=text, html=html, images=images)


def _plain_text(
    brand: Brand, heading: str, subheading: str, blocks: list[Block], footer: Footer
) -> str:
    parts = [heading.upper()]
    if subheading:
        parts.append(subheading)
    parts += [block.text.strip() for block in blocks if block.text.strip()]
    tail = ["--", brand.name]
    if footer.reason:
        tail.append(footer.reason)
    if footer.account_url:
        tail.append(f"{footer.account_label}: {footer.account_url}")
    if footer.unsubscribe_url:
        tail.append(f"{footer.unsubscribe_label}: {footer.unsubscribe_url}")
    if brand.legal_address:
        tail.append(brand.legal_address.strip())
    return "\n\n".join(parts) + "\n\n" + "\n".join(tail) + "\n"
