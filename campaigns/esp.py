"""The mail provider's tracking webhook (an edge): django-anymail parses the provider's
payload into normalized tracking events and sends its `tracking` signal; the receiver
here hands each event to campaigns.services.deliverability.

One provider at a time, chosen by CARAT_ESP (postmark, mailgun, sendgrid, brevo,
amazon_ses, mailjet, sparkpost, resend); the endpoint is /m/esp/tracking/. It is
authenticated with HTTP basic auth against ANYMAIL["WEBHOOK_SECRET"] ("user:password",
as anymail's docs describe: put the credentials in the webhook URL at the provider).
Without a secret the endpoint does not exist (404): an open webhook would let anyone
mark members undeliverable. Providers that also sign their posts (Mailgun, SparkPost...)
need their signing key in ANYMAIL as well; anymail checks it."""

import base64
import binascii

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

VIEWS = {
    "postmark": "anymail.webhooks.postmark.PostmarkTrackingWebhookView",
    "mailgun": "anymail.webhooks.mailgun.MailgunTrackingWebhookView",
    "sendgrid": "anymail.webhooks.sendgrid.SendGridTrackingWebhookView",
    "brevo": "anymail.webhooks.brevo.BrevoTrackingWebhookView",
    "amazon_ses": "anymail.webhooks.amazon_ses.AmazonSESTrackingWebhookView",
    "mailjet": "anymail.webhooks.mailjet.MailjetTrackingWebhookView",
    "sparkpost": "anymail.webhooks.sparkpost.SparkPostTrackingWebhookView",
    "resend": "anymail.webhooks.resend.ResendTrackingWebhookView",
}


def _secrets() -> list[str]:
    secret = (getattr(settings, "ANYMAIL", {}) or {}).get("WEBHOOK_SECRET") or []
    return [secret] if isinstance(secret, str) else list(secret)


def _authorized(request, secrets: list[str]) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return any(constant_time_compare(given, secret) for secret in secrets)


@csrf_exempt  # a provider posts without a CSRF token; basic auth is the authorisation
def tracking_webhook(request):
    secrets = _secrets()
    name = getattr(settings, "CARAT_ESP", "postmark")
    if not secrets or name not in VIEWS:
        raise Http404
    if not _authorized(request, secrets):
        response = HttpResponse("Authentication required.", status=401)
        response["WWW-Authenticate"] = 'Basic realm="mail provider webhook"'
        return response
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    if len(request.body) > 1_000_000:
        return HttpResponse("Too large.", status=413)
    return import_string(VIEWS[name]).as_view()(request)


def on_tracking(sender, event, esp_name, **kwargs):
    """anymail's tracking signal -> the deliverability service (thin: no logic here)."""
    from campaigns.services.deliverability import delivery_event_record

    delivery_event_record(
        event_type=event.event_type or "",
        recipient=event.recipient or "",
        message_id=str(event.message_id or ""),
        description=(event.description or event.reject_reason or "")[:150],
        at=event.timestamp,
    )
