"""Render every trigger mail and a broadcast for one member in every language, exactly as
composed for sending, to HTML and text files (inline images as data: URIs so a browser
shows them); with --screenshots, also PNG screenshots in Chromium at 600 px and 375 px
wide (Playwright, a dev dependency). Nothing is sent and nothing is written to the
database.

    manage.py render_mails --out var/mails [--member member@carat.example] [--screenshots]
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.mail.compose import preview
from campaigns.models import Broadcast, Trigger
from members.models import Member

WIDTHS = (600, 375)


class Command(BaseCommand):
    help = "Render every trigger mail and a broadcast, per language, to files (and screenshots)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True)
        parser.add_argument("--member", default="member@carat.example", help="e-mail")
        parser.add_argument("--broadcast", type=int, help="broadcast id (default: the newest)")
        parser.add_argument("--screenshots", action="store_true")
        parser.add_argument("--chromium", default="/usr/bin/chromium")

    def handle(self, *args, out, member, broadcast, screenshots, chromium, **options):
        who = Member.objects.filter(email=member, erased_at__isnull=True).first()
        if who is None:
            raise CommandError(f"No member with the e-mail {member}.")
        b = Broadcast.objects.filter(pk=broadcast).first() if broadcast else None
        b = b or Broadcast.objects.order_by("-created_at").first()
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for language, _name in settings.LANGUAGES:
            for trigger in [t for t in Trigger.values if t != "broadcast"]:
                files.append(self._write(folder, trigger, language, preview(
                    member=who, language=language, trigger=trigger)))  # fmt: skip
            if b is not None:
                files.append(self._write(folder, f"broadcast-{b.pk}", language, preview(
                    member=who, language=language, broadcast=b)))  # fmt: skip
        self.stdout.write(f"{len(files)} mails written to {folder}")
        if screenshots:
            self._screenshots(files, chromium)

    def _write(self, folder: Path, name: str, language: str, mail) -> Path:
        path = folder / f"{name}.{language}.html"
        path.write_text(mail.html_for_browser(), encoding="utf-8")
        text = f"Subject: {mail.subject}\n\n{mail.text}"
        path.with_suffix(".txt").write_text(text, encoding="utf-8")
        self.stdout.write(f"{path.name}: {mail.subject}")
        return path

    def _screenshots(self, files: list[Path], chromium: str) -> None:
        from playwright.sync_api import sync_playwright

        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=args)
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                for path in files:
                    page.goto(path.resolve().as_uri())
                    page.screenshot(path=str(path.with_suffix(f".{width}.png")), full_page=True)
                page.close()
            browser.close()
        self.stdout.write(f"{len(files) * len(WIDTHS)} screenshots taken")
