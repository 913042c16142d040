provider "aws" {
  region     = "eu-west-1"
  access_key = "AKIA4MBBC57GUX5EZY5J"
  secret_key = "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"
}
resource "random_password" "db" {
  length = 32
}
  password = random_password.db.result
  digitalocean_token = "dop_v1_3a0a532de66b8488715acef4571ed20fb38aab029fa93e975e88c9c9656ae27f"
  db_password = var.db_password
