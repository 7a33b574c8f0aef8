# The image docker-compose.yml runs for `init`, `seed` and `bot`: the Lambda's runtime
# requirements and code, plus the demo fleet. Python matches the Lambda runtime (template.yaml).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY reaper/ reaper/
COPY bot/ bot/
COPY demo/ demo/

RUN useradd --system --uid 10001 reaper
USER reaper

CMD ["python", "-m", "bot"]
