#ifndef CONFIG_H
#define CONFIG_H
#define CLIENT_SECRET "tpvElggOq4t71ARPfaMjq1g8TuQhfH5b"
#define AWS_SECRET_ACCESS_KEY "KojK7hhohL+eR8EoRP5x+13YOACoDDA6j+SpIq2E"
#define TWILIO_API_KEY "SK81821506279641e82ecf0eb1ab1c0455"
#define WIFI_PASSWORD "dT1rpdMsgn6JpG"
#define API_KEY_HEADER "X-Api-Key"
#define TOKEN_MAX_LEN 256
#define SECRET_STORE_PATH "/var/lib/app/secrets"
#define AUTH_REALM "Restricted Area"
#endif
