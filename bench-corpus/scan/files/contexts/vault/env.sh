#!/bin/sh
export VAULT_TOKEN=s.w2F0qkDkHjAarM9FTL7OH2my
export VAULT_TOKEN=hvs.QW3uWLXZfCwLtE4T-gSwdXXkjP5rUiP1uWYTh95q3gvxLg8592cbMkmN8v8vKcUFoOqqXf38hOan_ZEYgBl0ZPLwqnx
ANSIBLE_VAULT_PASSWORD='4QZyY41CTNIUD0FztO'
X_API_KEY=SK4a6f78402925763b20cbc2adab3d643c
export VAULT_ADDR=https://vault.internal:8200
export VAULT_PATH=secret/data/app
export VAULT_TOKEN_PATH=/var/run/secrets/vault-token
export VAULT_TOKEN=$(cat /var/run/secrets/vault-token)
