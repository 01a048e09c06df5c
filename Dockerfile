FROM python:3.11-slim
WORKDIR /app
# Dependencies first, pinned by the lock file: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY commands ./commands
COPY projections ./projections
COPY queries ./queries
COPY api ./api
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 --home-dir /app oms
USER oms
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["oms", "serve", "--host", "0.0.0.0", "--port", "8000"]
