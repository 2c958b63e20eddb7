"""Display nodes: separate processes that show the appliance's invocations (screens, speakers,
a Vestaboard). Pure parts: ``messages``, ``feed``, ``view``, ``board``; shells: ``link`` and the rest."""
