"""``python -m memcache_kit``: the command line."""

from memcache_kit._cli import main

if __name__ == "__main__":
    main()
