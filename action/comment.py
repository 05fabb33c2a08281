"""The GitHub Action's pull request comment: one comment per plan key, posted once and then
updated in place on every run, never duplicated. Standard library only: it runs before, and apart
from, the reconciler's own environment.

    python3 comment.py KEY MARKDOWN_FILE

Reads what GitHub Actions sets: GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the pull
request's number), GITHUB_SERVER_URL and GITHUB_RUN_ID (a link to the run) and GITHUB_TOKEN."""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

MAX_BODY = 65_000
"""GitHub refuses a comment over 65,536 characters."""
PAGE = 100


def marker(key: str) -> str:
    return f"<!-- authentik-reconciler plan: {key} -->"


def call(method: str, path: str, body: dict[str, str] | None = None) -> Any:
    url = os.environ.get("GITHUB_API_URL", "https://api.github.com") + path
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("Authorization", f"Bearer {os.environ['GITHUB_TOKEN']}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"::error title=authentik-reconciler::cannot comment on the pull request: {method} {path}: "
                 f"{error.code} {error.reason} (the job needs `permissions: pull-requests: write`)")


def pull_request_number() -> int:
    with open(os.environ["GITHUB_EVENT_PATH"], encoding="utf-8") as event_file:
        event = json.load(event_file)
    number = (event.get("pull_request") or {}).get("number")
    if not isinstance(number, int):
        sys.exit("::error title=authentik-reconciler::comment: this run is not for a pull request")
    return number


def existing_comment(repository: str, number: int, key: str) -> int | None:
    """The id of the newest comment of this key, reading every page of the pull request's comments."""
    found = None
    page = 1
    while True:
        comments = call("GET", f"/repos/{repository}/issues/{number}/comments?per_page={PAGE}&page={page}")
        found = next((c["id"] for c in reversed(comments) if str(c.get("body", "")).startswith(marker(key))), found)
        if len(comments) < PAGE:
            return found
        page += 1


def body(key: str, markdown: str) -> str:
    run = f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ['GITHUB_REPOSITORY']}" \
          f"/actions/runs/{os.environ.get('GITHUB_RUN_ID', '')}"
    head = f"{marker(key)}\n### authentik plan: `{key}`\n\n"
    tail = f"\n\n_[The run]({run}) has the whole plan in its summary._"
    if len(head) + len(markdown) + len(tail) > MAX_BODY:
        markdown = markdown[:MAX_BODY - len(head) - len(tail) - 40] + "\n\n_(cut: too long for a comment)_"
    return head + markdown + tail


def main(key: str, markdown_file: str) -> None:
    repository = os.environ["GITHUB_REPOSITORY"]
    number = pull_request_number()
    with open(markdown_file, encoding="utf-8") as markdown:
        text = body(key, markdown.read())
    comment_id = existing_comment(repository, number, key)
    if comment_id is None:
        call("POST", f"/repos/{repository}/issues/{number}/comments", {"body": text})
        print(f"Commented the plan on pull request #{number}.")
    else:
        call("PATCH", f"/repos/{repository}/issues/comments/{comment_id}", {"body": text})
        print(f"Updated the plan's comment on pull request #{number}.")


if __name__ == "__main__":
    main(*sys.argv[1:3])
