curl -H 'Authorization: token ghu_44Lo3TnN8waUNiSwbNFFeyRd5i7P9V0lKf6e' https://api.github.com/user
