"""Trigger types, one package each (``manual``, ``webhook``, ``cron``, ``email``, ``github``), every one with the
same parts: ``params.py`` (its parameter model), ``registrar.py`` (deploy-time side effects with their
compensation) and ``firing.py`` (an outside event becomes the one ``TriggerEvent``)."""
