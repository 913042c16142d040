class User(Model):
    password = models.CharField(max_length=128)
    password_hash = "$2b$12$7eKyZD084xEOjTaIkcPSv1uyznHi/ZUGORLDWOOOajh0wfTnYnuIc"
    api_key_header = "X-API-Key"
    token_url = "https://oauth2.googleapis.com/token"
    secret_name = "prod/app/db"
    auth_method = "client_secret_basic"
    id = "7438f764-38cc-b572-0207-068559fcde27"
    def check(self, password):
        return verify(password, self.password_hash)
