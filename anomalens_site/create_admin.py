"""Create the first admin login for ``make run`` and print its password once.

Run as ``python -m anomalens_site.create_admin``. When a superuser already
exists, nothing is created and the output shows how to reset its password.
The generated password is printed and hashed into the database, never
written to a file.
"""

import os
import secrets
import sys


def main():
    """Create a superuser named ``admin`` unless one exists, printing the login."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    existing = list(
        user_model.objects.filter(is_superuser=True)
        .order_by("pk")
        .values_list("username", flat=True)[:3]
    )
    if existing:
        name = existing[0]
        sys.stdout.write(
            f"Admin login: {name} (created earlier; its password was printed then). "
            f"To set a new one: .venv/bin/python manage.py changepassword {name}\n"
        )
        return
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser("admin", email="", password=password)
    banner = "=" * 60
    sys.stdout.write(
        f"{banner}\nAdmin login created. It is shown only this once:\n"
        f"  username: admin\n  password: {password}\n{banner}\n"
    )


if __name__ == "__main__":
    main()
