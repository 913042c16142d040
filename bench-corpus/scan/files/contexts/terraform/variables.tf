variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "m4pBz9bHaZ5U5T"
}

variable "stripe_secret_key" {
  description = "Stripe key used by the billing worker"
  default     = "sk_live_7VGWokjlIFe3EhSYTYD3CBiF"
}

variable "datadog_api_key" {
  default = "97ab0cba430ebe4e3fdc457957c2a6d5"
}

variable "api_token" {
  type    = string
  default = var.fallback_token
}

variable "client_secret_name" {
  default = "prod/app/oauth-client"
}
