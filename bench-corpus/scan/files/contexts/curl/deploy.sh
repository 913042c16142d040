curl -fsS -u ci:oIGQHRqVx75kPA47aUO5FckZt8Ro9hTD https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u svc-release:Ca5cade!1579rFhm7 https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u ci:WdPtfraukRXmS5JNtknkthT8idIbdQVe https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u deploy:Mar1ne#2641JX8vd https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u api:2fCzubt708wsTYztJMQGeDZl2XKnzg6s https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u admin:Ca5cade#948y39sQ https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u api:9278FqtBml1uZtdh4S4OiWlAO08XI8Wt https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u ci:Gl4cier&3041ObOy1 https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u deploy:9A5RDBJARQlmGzxZhLJFhHT3U6jYIOK9 https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u ci:Fj0rd%2105pO2IW https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u svc-release:pDOlVzgIwme93RjCwr3LxGnGiwkONqEm https://artifacts.example.internal/upload -T dist.tgz
curl -fsS -u ci:Ember&3259H23fi https://artifacts.example.internal/upload -T dist.tgz
curl -u "$USER:$PASS" https://artifacts.example.internal/
curl -u admin:changeme http://localhost:8080/
curl -u ${CI_USER}:${CI_TOKEN} https://artifacts.example.internal/
curl -u user:password https://example.com/
