#!/bin/sh
set -eu
./deploy --db-password 0mUrDtxRVaMhC5El --region eu-west-1
aws configure set aws_secret_access_key xxjuFtcu8vRdNFBXT28809hzI+nPQoLXfvrWUQy9
app-cli login --api-key mZVy6gdNWaRClhSxrrcsaDFRKg6M1IeY --org acme
terraform apply -var client_secret=u8GX7tHrFs4DNxs4abmGf1sAZA1KSFi2
./deploy --db-password "$DB_PASSWORD" --region eu-west-1
app-cli login --api-key-file ./secrets/api.key
app-cli login --token-stdin < token.txt
./deploy --secret-name prod/app/database
gpg --passphrase-fd 0 --batch --decrypt secrets.gpg
