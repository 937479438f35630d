"""The public's side of the platform: activity streams, following and notifications (issue 15).

``activity.record`` is the one seam every domain calls when something a follower cares about happens (a dataset
changed, a data request answered, a discussion post, a reuse shown); the stream pages, the CKAN activity actions,
the Atom feeds and the notifications all read the ``activity`` table it writes."""
