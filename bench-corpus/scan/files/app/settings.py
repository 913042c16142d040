import os
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "qY7TvysLitI0nGDsdbtgIz51sHuBPmcL"
DEBUG = False
ALLOWED_HOSTS = ["api.internal"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "PASSWORD": "M0nkey&5141cMR3"}}
EMAIL_HOST_PASSWORD = os.environ["EMAIL_HOST_PASSWORD"]
SLACK_WEBHOOK = "https://hooks.slack.com/services/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"
HF_TOKEN = "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"
STRIPE_PUBLISHABLE_KEY = "pk_live_U3UnK4w4QeRYsrMei8XY1T3Q"
SESSION_COOKIE_AGE = 1209600
CELERY_BROKER_URL = "redis://:3eZejToS5QuFAUknwU@cache.internal:6379/0"
password_reset_timeout = 259200
token_type = "bearer"
