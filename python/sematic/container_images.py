"""Container images for cloud execution, as configured by environment variables."""

# Standard Library
import os
from typing import Dict


CONTAINER_IMAGE_ENV_VAR = "SEMATIC_CONTAINER_IMAGE"
CONTAINER_IMAGE_URIS_ENV_VAR = "SEMATIC_CONTAINER_IMAGE_URIS"

DEFAULT_BASE_IMAGE_TAG = "default"


class MissingContainerImage(Exception):
    """No container image is configured."""


def has_container_image() -> bool:
    """Whether a container image with the pipeline's code is available for cloud runs.

    Returns
    -------
    bool
        True if ``SEMATIC_CONTAINER_IMAGE`` or ``SEMATIC_CONTAINER_IMAGE_URIS``
        names an image.
    """
    try:
        get_image_uris()
    except MissingContainerImage:
        return False
    return True


def get_image_uris() -> Dict[str, str]:
    """The configured container images, by base image tag.

    ``SEMATIC_CONTAINER_IMAGE=<uri>`` gives ``{"default": <uri>}``; otherwise
    ``SEMATIC_CONTAINER_IMAGE_URIS="tag1##uri1::tag2##uri2"`` gives one entry
    per tag.

    Returns
    -------
    Dict[str, str]
        Image URIs by tag.

    Raises
    ------
    MissingContainerImage
        If neither variable names an image.
    ValueError
        If an entry of ``SEMATIC_CONTAINER_IMAGE_URIS`` is not ``tag##uri``.
    """
    if CONTAINER_IMAGE_ENV_VAR in os.environ:
        return {DEFAULT_BASE_IMAGE_TAG: os.environ[CONTAINER_IMAGE_ENV_VAR]}

    uris: Dict[str, str] = {}
    for entry in os.environ.get(CONTAINER_IMAGE_URIS_ENV_VAR, "").split("::"):
        if not entry:
            continue
        tag, separator, uri = entry.partition("##")
        if not separator or "##" in uri:
            raise ValueError(
                f"Malformed entry {entry!r} in {CONTAINER_IMAGE_URIS_ENV_VAR}: expected "
                "'tag##image_uri', with entries separated by '::'."
            )
        uris[tag] = uri

    if not uris:
        raise MissingContainerImage(
            "Sematic needs access to a docker image containing the source code before "
            "it can run in the cloud. If such an image exists, please set "
            f"the environment variable: {CONTAINER_IMAGE_ENV_VAR}."
        )
    return uris
