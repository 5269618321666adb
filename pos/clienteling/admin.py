"""The client book in the console, read-only: marketing sees every store's clients (the
associates write at the counter, through the services). Loaded from pos/admin.py."""

from django.contrib import admin

from loyalty.kernel.admin_tools import ReadOnlyAdmin

from .models import Appointment, ClientContact, ClientNote, ClientProfile, WishlistItem


@admin.register(ClientNote)
class ClientNoteAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "store", "author", "follow_up_on"]
    list_filter = ["store"]
    list_select_related = ["member", "store", "author"]
    raw_id_fields = ["member"]


@admin.register(ClientProfile)
class ClientProfileAdmin(ReadOnlyAdmin):
    list_display = ["member", "associate", "ring_size", "bracelet_size", "updated_at"]
    list_select_related = ["member", "associate"]
    raw_id_fields = ["member"]


@admin.register(WishlistItem)
class WishlistItemAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "description", "sku", "source", "removed_at"]
    list_filter = ["source", "store"]
    list_select_related = ["member"]
    raw_id_fields = ["member"]


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = ["starts_at", "store", "member", "associate", "purpose", "status"]
    list_filter = ["store", "status", "purpose"]
    list_select_related = ["member", "store", "associate"]
    raw_id_fields = ["member"]


@admin.register(ClientContact)
class ClientContactAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "store", "associate", "channel", "reason"]
    list_filter = ["store", "channel"]
    list_select_related = ["member", "store", "associate"]
    raw_id_fields = ["member"]
