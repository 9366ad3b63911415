"""The WSGI application gunicorn serves in the soak."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soak.settings")
application = get_wsgi_application()
