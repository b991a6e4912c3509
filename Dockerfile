# The served dashboard (docs/deploy.md). Build: docker build -t clinical-fairness-auditor .
FROM python:3.11-slim

# WeasyPrint (PDF exports) needs Pango and a font.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
      libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md streamlit_app.py ./
COPY auditor ./auditor
COPY reports ./reports
COPY policies ./policies
RUN pip install --no-cache-dir '.[serve,postgres]'
COPY deploy/streamlit-config.toml /app/.streamlit/config.toml

# Never run as root; the uploads folder is private to this user.
RUN useradd --uid 10001 --create-home auditor \
 && mkdir -p /etc/auditor/uploads && chown auditor /etc/auditor/uploads && chmod 700 /etc/auditor/uploads
USER auditor
ENV AUDITOR_SERVER_CONFIG=/etc/auditor/server.yaml \
    MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
# The launcher refuses to start served without [auth] in the secrets (exit code 2).
CMD ["python", "-m", "auditor.dashboard.serve"]
