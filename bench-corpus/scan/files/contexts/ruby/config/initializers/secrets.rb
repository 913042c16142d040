# frozen_string_literal: true
ENV['CLIENT_SECRET'] ||= 'MVSIuMy5SOAH1eUQk9ppYwBbP7oJGyjA'
ENV["DB_PASSWORD"] ||= "2A48a5lJkg!S7q"
ENV['AWS_SECRET_ACCESS_KEY'] ||= 'c2H6gO0sPD3FxhAyhHm4bDftPL/7nk9uceJheHCN'
ENV['TWILIO_API_KEY'] ||= 'SK810ec3e7902dd00105d9d6aae71999a2'
ENV['GITHUB_TOKEN'] ||= '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'
ENV['API_TOKEN'] ||= 'changeme'
ENV['API_TOKEN'] ||= ENV.fetch('LEGACY_API_TOKEN', nil)
ENV['SECRET_KEY_BASE'] ||= Rails.application.credentials.secret_key_base
Rails.application.config.session_store :cookie_store, key: '_app_session'
