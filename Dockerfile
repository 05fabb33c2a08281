# The reconciler as a container image: `docker run --rm -v "$PWD:/work" IMAGE plan config/`.
# The release workflow builds it for each tag (VERSION is the tag's version: the build has no git).
# Build stage: the package and its dependencies in a virtual environment. Final stage: that
# environment on a slim Python, with git (the CI kit's jobs read and commit with it), no pip run,
# no compiler, a non-root user, and `reconciler` as the entrypoint.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ARG VERSION=0.0.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    SETUPTOOLS_SCM_PRETEND_VERSION_FOR_AUTHENTIK_RECONCILER=${VERSION}
WORKDIR /src
COPY pyproject.toml README.md CHANGELOG.md ./
COPY reconciler ./reconciler
COPY schemas ./schemas
COPY examples/ci ./examples/ci
RUN python -m venv /opt/reconciler \
    && /opt/reconciler/bin/python -m pip install . \
    && /opt/reconciler/bin/python -m pip uninstall --yes pip

FROM python:${PYTHON_VERSION}-slim
ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="authentik-reconciler" \
      org.opencontainers.image.description="GitOps for authentik: validate, plan and apply manifests" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/OWNER/authentik-reconciler" \
      org.opencontainers.image.documentation="https://github.com/OWNER/authentik-reconciler#install"
# Debian's git of the base image's release: a pinned package version would break the build at its
# next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group reconciler
COPY --from=build /opt/reconciler /opt/reconciler
ENV PATH=/opt/reconciler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /work
ENTRYPOINT ["reconciler"]
CMD ["--help"]
