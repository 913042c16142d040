#!/bin/sh
set -eu
curl -X POST -d @payload.json https://discord.com/api/webhooks/707603494664544085/btgXOBfy8wuHIxja6q1DOYWqa2qDHbUwZVlKuEAi-t5xT5LVMR3vwzQ3uRQ5hDSxk0tt
curl https://api.telegram.org/bot281281563:AAYSlvUEpMOKMEWLWYJFFFTaQfO7S02YlSf/sendMessage -d text=done
export SLACK_BOT_TOKEN=xoxb-361195110551-6341309383482-f2fmz1NzrsT72L1a5WrhOcqz
export LINEAR_API_KEY=lin_api_XbA2ZLMj1PxKg19V205aXjQ67FhqtF7qN39mTALV
export PATH="$HOME/.local/bin:$PATH"
echo "build $(git rev-parse HEAD)"
