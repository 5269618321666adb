"""Appointment mails through the program's mail path (filled in with the appointments)."""


def appointment_mails_claim(appointment) -> None:
    return None


def appointment_mails_cancel(appointment) -> None:
    return None
