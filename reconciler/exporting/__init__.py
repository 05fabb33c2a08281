"""From live state to manifests: entries, their YAML and the folder layout."""
