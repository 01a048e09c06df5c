FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY commands ./commands
COPY projections ./projections
COPY queries ./queries
COPY api ./api
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["oms", "serve", "--host", "0.0.0.0", "--port", "8000"]
