//! Word lists behind the name heuristics: common given names across the languages the gateway
//! sees (a modest, general list, not tied to any data set), capitalized words that are not
//! names, and words that mark an organisation.

/// Common given names (US/UK, Spanish, Portuguese, Italian, French, German, Dutch, Polish,
/// Czech, Indian). Used only as supporting evidence for a capitalized name pair.
pub(crate) const FIRST_NAMES: &str = "
Aaron Abigail Adam Adrian Adriana Agnieszka Ahmed Aidan Aisha Alan Albert Alberto Alejandra
Alejandro Aleksandra Alex Alexa Alexander Alexandra Alexis Alfredo Alice Alicia Alison Allison
Alyssa Amanda Amber Amelia Amit Amy Ana Andrea Andreas Andrew Andrzej Angela Angelica Anita Ann
Anna Anne Annette Anthony Antonio Antonella Antoine Anya Arjun Arthur Ashley Audrey Aurora Austin
Barbara Beatriz Ben Benjamin Bernard Beth Bethany Betty Beverly Bianca Bill Billy Bobby Bonnie
Brad Bradley Brandon Brenda Brent Brett Brian Brianna Bridget Brittany Brooke Bruce Bruno Bryan
Caitlin Caleb Cameron Camila Carl Carla Carlos Carmen Carol Caroline Carolyn Carrie Casey Cassandra
Catherine Cathy Cecilia Chad Charles Charlotte Chelsea Cheryl Chloe Chris Christian Christina
Christine Christopher Cindy Claire Clara Claudia Cody Colin Colleen Connor Courtney Craig Crystal
Cynthia Dale Dana Daniel Daniela Danielle Daniele Darius David Dawn Dean Debbie Deborah Debra
Denise Dennis Derek Destiny Diana Diane Diego Dominic Donald Donna Dorothy Douglas Dylan Eduardo
Edward Elena Eleanor Elijah Elisa Elizabeth Ella Ellen Emilia Emily Emma Enrique Eric Erica Erik
Erin Ernesto Esther Ethan Eugene Eva Evan Evelyn Fabio Felipe Fernando Filip Francesca Francesco
Francis Frank Franz Gabriel Gabriela Gabrielle Gary Gavin Gemma George Georgia Gerald Gina
Giorgio Giovanni Giulia Giuseppe Gloria Grace Greg Gregory Guillermo Hailey Hannah Hans Harold
Harry Hazel Heather Hector Heidi Helen Henry Holly Hugo Ian Ines Irene Isaac Isabel Isabella
Isaiah Ivan Jack Jackson Jacob Jacqueline Jaime Jakub James Jamie Jan Jane Janet Janice Jared
Jasmine Jason Javier Jean Jeffrey Jenna Jennifer Jeremy Jerry Jesse Jessica Jesus Jill Jimmy Joan
Joanna Joao Joaquin Jocelyn Joe Joel Johann John Johnny Jon Jonathan Jordan Jorge Jose Joseph
Joshua Joyce Juan Judith Judy Julia Julian Julie Julio Justin Kaitlyn Karen Karin Karl Kate
Katherine Kathleen Kathryn Kathy Katie Katrin Kayla Keith Kelly Kenneth Kevin Kim Kimberly Kirsten
Klaus Kristen Kristin Krzysztof Kyle Lara Larry Laura Lauren Laurent Leah Lena Leo Leon Leonardo
Lisa Linda Lindsay Lindsey Logan Lorenzo Lori Lorraine Louis Louise Lucas Lucia Luis Luca Luisa
Lukas Luke Lydia Madison Maggie Manuel Manuela Marc Marcel Marco Marcus Margaret Maria Marie
Marina Mario Marion Mark Marta Martin Martina Mary Mason Mateo Matteo Matthew Matthias Maureen
Max Maximilian Megan Melanie Melissa Mia Michael Michaela Michel Michelle Miguel Mike Miriam
Mitchell Monica Morgan Nadia Nancy Natalia Natalie Nathan Nathaniel Neil Nicholas Nicola Nicolas
Nicole Nikhil Nina Noah Noel Olga Olivia Omar Oscar Pablo Pamela Paola Patricia Patrick Paul
Paula Pedro Peter Petra Philip Philippe Pierre Piotr Priya Rachel Rafael Rahul Ralph Ramon Randall
Randy Raquel Raul Ravi Raymond Rebecca Regina Renee Ricardo Richard Rick Rita Robert Roberto Robin
Rodrigo Roger Roman Ronald Rosa Rose Ruby Russell Ruth Ryan Sabine Sabrina Samantha Samuel Sandra
Sara Sarah Scott Sean Sebastian Sergio Seth Shane Shannon Sharon Shawn Sheila Shirley Simon Simone
Sofia Sophia Sophie Stefan Stefano Stephanie Stephen Steve Steven Susan Suzanne Sven Sylvia
Tamara Tammy Tanya Tara Taylor Teresa Terry Theresa Thomas Tiffany Timothy Tina Todd Tom Tomas
Tommy Tony Tracy Travis Tricia Troy Tyler Valentina Valeria Valerie Vanessa Vera Veronica Victor
Victoria Vincent Virginia Vivek Walter Wayne Wendy William Willem Wojciech Xavier Yolanda Yvonne
Zachary Zoe
";

/// More given names (Nordic, Dutch, German, French, Italian, Spanish, Portuguese, Slavic,
/// Turkish, Arabic, English nicknames), written as their speakers write them.
pub(crate) const MORE_FIRST_NAMES: &str = "
Abdullah Achim Adèle Adélaïde Agathe Agustín Aimee Alba Aldo Alessandra Alessandro Alessia
Alexandre Alfonso Ali Alina Alois Álvaro Amélie Anders Andrés André Andreia Ángel Ángela
Angelo Anja Anke Annika Antje Antonia Armin Arne Astrid Axel Åsa Béatrice Benedikt Benoît
Bernd Bernadette Birgit Bjørn Björn Bram Brigitte Britta Camille Carina Carlo Carolina
Caterina Cédric Célia Céline Chantal Chiara Christa Christel Christiane Christoph Clémence
Corinne Cristian Cristina Dagmar Dalton Damián Damien Daan Delia Dennis Dieter Dirk Dolores
Dominik Dominique Doris Dorota Edith Egon Elif Elke Elodie Élodie Elsa Emil Emilio Emine
Emre Enzo Erika Erling Esteban Estelle Fabian Fabien Fabienne Fatima Fausto Federica Federico
Felix Fernanda Filippo Florian Francisca Francisco Franziska Frederik Frida Friedrich Gabriele
Gaël Gerhard Gert Gianluca Gianni Gilles Giulio Gonzalo Gösta Greta Gudrun Guido Gunnar
Günter Gustav Gustavo Hakan Hanna Hannes Harald Heike Heinz Helga Helmut Henrik Herbert
Hélène Hilde Horst Hugo Ida Ilse Ines Inês Inga Ingrid Irina Isabelle Isidro Ivo Jacques
Jakob Jan-Peter Janne Jens Jeroen Jesper Joachim Joana Joaquim Jochen Johan Johanna Johannes
Jonas Jörg Josefine Josep Josué Jürgen Julien Juliette Jutta Kai Karina Karolina Kasper
Katarzyna Katharina Kerstin Kirsi Knut Konrad Kurt Lars Laure Léa Leandro Leila Lennart
Leonard Léo Liesbeth Lieke Linnea Lisbeth Liz Lorena Lotte Luana Lucía Luciana Luciano
Ludovic Ludwig Luiz Lukasz Łukasz Magdalena Magnus Maike Maja Małgorzata Manon Manfred Marcela
Marcelo Marcin Marek Margot Mariana Marianne Marit Marita Marius Marlene Mathilde Mats Matías
Maurice Mauro Maxime Mehmet Merel Miguel Mikael Milan Mirko Moritz Mohamed Mohammed Muhammad
Nadine Natascha Nathalie Nico Niels Nils Noémie Nuray Oliver Olivier Ole Oskar Ottavio Pascal
Patrícia Pauline Pepijn Per Pernille Pietro Pilar Rafaela Raffaele Rainer Ralf Regine Reinhard
Remco Renata Renate René Riccardo Rita Rocío Rolf Romain Rüdiger Rune Ruud Sabrina Salvatore
Sander Sanne Santiago Saskia Sebastián Selin Serena Sergei Sigrid Silvia Sílvia Silvio Siobhan
Solène Sonja Sonya Stéphane Stefanie Susanne Sébastien Tatiana Thiago Thierry Thijs Thorsten
Tiago Tobias Tomás Tomasz Torsten Ulla Ulrich Ulrike Ursula Uwe Valentin Vicente Vincenzo
Vítor Vittoria Walther Werner Wiebke Wilhelm Wim Wolfgang Yannick Yusuf Zeynep Zofia
Alvin Andy Annie Ashlee Barry Becky Bob Brendan Bret Calvin Carmela Carter Cheyenne Clayton
Clifford Cole Corey Curtis Dakota Damon Danny Darren Darryl Desiree Devin Dominique Don Dustin
Earl Eddie Edwin Elaine Eli Erika Ernest Felicia Francisco Gail Garrett Geoffrey Gilbert Glen
Glenn Gordon Hayley Herman Howard Isaiah Ivy Jake Jasmin Jasmina Jay Jeanette Jeff Jenny Jeremiah
Jessie Jill Joanne Jodi Johnathan Jonah Josh Julius Kara Kari Karla Katelyn Kelsey Kendra Kent
Kerry Kristina Kristy Kurt Lance Latoya Lee Leslie Lillian Lloyd Lonnie Lucy Luz Mackenzie
Malik Marcia Marilyn Marjorie Marlon Marshall Marvin Meghan Melinda Melvin Micheal Michele
Mindy Miranda Misty Molly Monique Nadia Naomi Neal Norma Norman Olivia Owen Patsy Perry Phillip
Priscilla Rachael Ramona Reginald Rhonda Ricky Roberta Rodney Ron Ronnie Roy Sally Sam Shari
Shaun Shelby Sherri Sierra Stacey Stacy Stan Stanley Stacie Tabitha Tanner Terrence Tim Toni
Tonya Tracey Trevor Tristan Vernon Vicki Wesley Whitney Willie Zachary
";

/// Capitalized words that start sentences, label fields or name things other than people.
pub(crate) const NOT_NAMES: &str = "
A About Account Mr Mrs Ms Mx Dr Prof Mme Mlle Sr Sra Srta Sig Sig.ra Herr Frau Dott Accounts Action Actions Add Address Admin After Agent All Also Am An And Any API
Applicant Application April Are As Ask Assistant At Attendees August Auth Authorization Average
Adres Adresse Backup Bank Be Betrag Caso Client Cliente Dirección Fall Geburtsdatum Indirizzo Klant Kunde Kundin Lieferadresse Pratica Zaak Bearer Best Billing Birthdate Born Budget Build But By Call Caller Can Card Case
Cases Cc Champion Charge Cheers Chrome City Close Co-applicant Company Complaint Config Contact
Contacts Could Created Customer Customers Date Day Dear December Description Details Did Direct
Director Do Does Dossier Email Employee Employer Engineering Error Escalation Every Extract Fall
February Find Finance First Fix Fixed Follow For Friday From Full Get Gift Good Got Great Hallo
Has Have He Head Hello Her Here Hey Hi High His Home How However I If In Incident Info Invoice Is
It Its January July June Just Kind Last Lead Legal Let Log Low Manager March May Me Medium Meeting
Message Migration Mobile Monday More My Name New Next No Not Note Notes November Now October Of
Office On Open Opportunity Or Order Original Our Outstanding Owner Payment Per Phone Pipeline
Please Previous Priority Procurement Published Question Quote Re Rechnung Record Refund Regards
Related Release Reminder Renewal Reply Reply-to Report Reproduce Request Rep Rewrite Sales
Saturday See September Set She Ship Shipping Should Since So Some Status Subject Summarize
Summary Sunday Support Sure Team Tel Thank Thanks That The Their Then There These They This
Thursday Ticket Tier To Today Top Total Tuesday Update Urgent Use User VIP Wants We Wednesday
What When Where Which Who Why Will With Working Yes You Your
";

/// Words that make a capitalized sequence an organisation rather than a person.
pub(crate) const ORG_WORDS: &str = "
AG Analytics Bank Biotech BV B.V. Capital Co Co. Company Construction Consulting Corp Corp.
Corporation Dynamics Energy Foods Freight GmbH Group Health Healthcare Holdings Hospitality Inc
Inc. Industries Insurance KG Labs Logistics LLC Ltd Ltd. Manufacturing Media Networks NV N.V.
Outfitters Partners Pharma PLC Retail S.A. SA SAS Services Software Solar Solutions S.p.A.
S.r.l. Supply Systems Technologies Telecom Textiles University Ventures
";
