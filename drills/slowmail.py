"""A slow e-mail backend for the drills: every message takes DRILL_MAIL_DELAY_MS (20 ms)
and is then written, whole and with its Message-ID header, to its own file in
DRILL_MAIL_DIR (write to a temporary name, then rename: a file that exists is a mail
the "provider" accepted). Used as EMAIL_BACKEND=slowmail.EmailBackend with drills/ on
PYTHONPATH."""

import os
import tempfile
import time
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.dir = Path(
            os.environ.get("DRILL_MAIL_DIR", Path(tempfile.gettempdir()) / "carat-drill-mail")
        )
        self.delay = int(os.environ.get("DRILL_MAIL_DELAY_MS", "20")) / 1000

    def send_messages(self, email_messages):
        self.dir.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            time.sleep(self.delay)
            data = message.message().as_bytes(linesep="\n")
            name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.eml"
            part = self.dir / f".{name}.part"
            part.write_bytes(data)
            os.replace(part, self.dir / name)
            sent += 1
        return sent
