TOKEN = "ghp_Zq8mR2vL9xT4nB7cK1pW5sD3fG6hJ0yUeA2b"  # made up: its checksum fails
