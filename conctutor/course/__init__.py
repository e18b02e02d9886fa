"""What the notebooks use: the chapter's tasks and programs, the checks of the exercises, the panels, the
README's images, the printed conclusions and the comparison's figures. The top layer of the package.
"""
