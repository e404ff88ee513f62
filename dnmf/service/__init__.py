"""The workbench's services beside :mod:`dnmf.ui`: the run store and the job runner.

Nothing in the solver core (``dnmf.models``, ``dnmf.estimators``, ``dnmf.updates``) imports this
package: the store keeps :class:`dnmf.FitResult` objects as their own ``.npz`` bytes, and the job
runner calls the estimators like any other user.
"""
