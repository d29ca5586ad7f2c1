-- One PostgreSQL for both services (docker-compose.yml): a database each.
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
